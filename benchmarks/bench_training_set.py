"""Training-set build: r2p's DuckDB ASOF join beside Feast's two offline stores and pandas.

Feature rows come from the churn generator over ``--days`` days (about ``--feature-rows``
rows over both views), committed as offline partitions and published for Feast; ``--labels``
label events are drawn at random times and entities in the range. Each contender returns
the point-in-time join of every feature view onto the label events; rows are compared
against r2p's (all of Feast's DuckDB store's rows; the rows Feast's file store keeps).

    .venv/bin/python benchmarks/bench_training_set.py [--labels 100000] [--feature-rows 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

START = dt.date(2026, 11, 2)


def _setup(cfg, entities: int, days: int, labels: int, seed: int = 3):
    from r2p.features.store import apply_definitions, feature_store, publish
    from r2p.ingest.stage import ingest_source
    from r2p.intervals import day_interval
    from r2p.sample.landing import generate_days

    generate_days(cfg, START, days, entities=entities)
    for i in range(days):
        for src in cfg.dataset.sources:
            ds = START + dt.timedelta(days=i)
            ingest_source(cfg, src.name, day_interval(ds), "bench")
            publish(cfg, src.name, ds)
    apply_definitions(feature_store(), cfg)
    rng = np.random.default_rng(seed)
    span = days * 86400
    ts = pd.Timestamp(START, tz="UTC") + pd.to_timedelta(rng.integers(0, span, labels), "s")
    frame = pd.DataFrame(
        {
            cfg.dataset.entity.key: rng.integers(1, entities + 1, labels),
            "event_timestamp": ts.astype("datetime64[ms, UTC]"),
        }
    )
    return frame.drop_duplicates().reset_index(drop=True)  # one label per entity and moment


def _ours(cfg, entity_df: pd.DataFrame) -> pd.DataFrame:
    import pyarrow as pa

    from r2p.training_set.build import feature_views
    from r2p.training_set.pit import point_in_time_join

    table = pa.Table.from_pandas(entity_df, preserve_index=False)
    lab = table.rename_columns([cfg.dataset.entity.key, cfg.dataset.label.timestamp])
    views, _ = feature_views(cfg, lab)
    return point_in_time_join(table, cfg.dataset.entity.key, "event_timestamp", views).to_pandas()


def _feast(cfg, entity_df: pd.DataFrame, offline_store: str | None) -> pd.DataFrame:
    from r2p.features.definitions import service_name
    from r2p.features.store import feature_store

    store = feature_store(offline_store)
    service = store.get_feature_service(service_name(cfg, cfg.models[0].name))
    return store.get_historical_features(entity_df=entity_df, features=service).to_df()


def _merge_asof(cfg, entity_df: pd.DataFrame) -> pd.DataFrame:
    import pyarrow as pa

    from r2p.training_set.build import feature_views

    key = cfg.dataset.entity.key
    lab = pa.Table.from_pandas(entity_df, preserve_index=False).rename_columns(
        [key, cfg.dataset.label.timestamp]
    )
    views, _ = feature_views(cfg, lab)
    out = entity_df.sort_values("event_timestamp")
    for v in views:
        right = v.table.to_pandas().sort_values(v.timestamp)
        out = pd.merge_asof(
            out,
            right[[key, v.timestamp, *v.features]],
            left_on="event_timestamp",
            right_on=v.timestamp,
            by=key,
            direction="backward",
            tolerance=pd.Timedelta(v.ttl),
        ).drop(columns=[v.timestamp])
    return out


def _compare(ours: pd.DataFrame, other: pd.DataFrame, key: str, feats: list[str]) -> dict:
    from r2p.training_set.compare import compare, rows

    return compare(
        rows(ours, key, "event_timestamp", feats),
        rows(other, key, "event_timestamp", feats),
        key,
        feats,
    )


def run(labels: int, feature_rows: int, days: int, repeat: int) -> dict:
    """Time every contender and compare their rows with r2p's."""
    from r2p.config import load_pipeline

    cfg = load_pipeline("churn")
    per_entity_day = 1 + cfg.source("activity").events_per_entity
    entities = max(100, int(feature_rows / (days * per_entity_day)))
    entity_df = _setup(cfg, entities, days, labels)
    key, feats = cfg.dataset.entity.key, [c.name for c in cfg.feature_columns]
    contenders = {
        "r2p_duckdb_asof": lambda: _ours(cfg, entity_df),
        "feast_duckdb_offline_store": lambda: _feast(cfg, entity_df, None),
        "feast_file_offline_store": lambda: _feast(cfg, entity_df, "file"),
        "pandas_merge_asof": lambda: _merge_asof(cfg, entity_df),
    }
    results, frames = {}, {}
    for name, fn in contenders.items():
        times = []
        for _ in range(1 if name == "feast_file_offline_store" else repeat):
            t0 = time.perf_counter()
            frames[name] = fn()
            times.append(time.perf_counter() - t0)
        results[name] = {"seconds": round(min(times), 3)}
    base = results["r2p_duckdb_asof"]["seconds"]
    for name in contenders:
        results[name]["ratio_to_r2p"] = round(results[name]["seconds"] / base, 2)
        results[name]["compared_with_r2p"] = _compare(
            frames["r2p_duckdb_asof"], frames[name], key, feats
        )
    import pyarrow as pa

    from r2p.training_set.build import feature_views

    lab = pa.Table.from_pandas(entity_df, preserve_index=False).rename_columns(
        [key, cfg.dataset.label.timestamp]
    )
    total_feature_rows = sum(v.table.num_rows for v in feature_views(cfg, lab)[0])
    return {
        "benchmark": "training_set_build",
        "label_events": labels,
        "feature_rows": total_feature_rows,
        "entities": entities,
        "days": days,
        "cpu_count": os.cpu_count(),
        "results": results,
    }


def main() -> int:
    from _common import quiet

    quiet()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--feature-rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
        os.environ["R2P_HOME"] = tmp
        print(json.dumps(run(args.labels, args.feature_rows, args.days, args.repeat), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
