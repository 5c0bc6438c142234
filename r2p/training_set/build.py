"""Build a point-in-time-correct training set for one model's FeatureService.

Labels: every label that *arrived* in the training window ``[cutoff - window_days, cutoff)``
(so the label delay is respected: nothing is used before it was known). Features: each
feature view joined as of the label's own timestamp (the moment it describes), within the
view's TTL, so nothing stamped after that moment (for instance between the event and the
label's arrival) can leak in. Split out of time by the label's date: the newest
``test_days`` are test, the ``valid_days`` before them valid, the rest train; with
``group_by_entity`` an entity's rows stay in the newest split it appears in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.errors import DataError
from r2p.features.definitions import service_name, view_name
from r2p.ingest.offline import DATA, offline_name
from r2p.ingest.schema import offline_schema
from r2p.training_set.pit import ViewData, point_in_time_join
from r2p.training_set.split import SPLIT, require_splits, split_rows
from r2p.versioning import code_version, lock_hash

log = logging.getLogger(__name__)
DATASET = "data.parquet"
MANIFEST = "manifest.json"


def _read_parquet(path: storage.ObjectStoragePath) -> pa.Table:
    """A stored Parquet file: memory-mapped when local, fetched whole when remote."""
    if path.protocol in ("file", "local", ""):
        return pq.read_table(path.path, memory_map=True)
    return pq.read_table(io.BytesIO(path.read_bytes()))


def _partitions(cfg: PipelineConfig, source: str, first: dt.date, last: dt.date):
    """(tables, {ds: content hash}) of the committed partitions of ``source`` in [first, last]."""
    schema = offline_schema(cfg, source)
    tables, used = [], {}
    day = first
    while day <= last:
        ptr = storage.pointer(offline_name(schema, day))
        if ptr is not None:
            tables.append(_read_parquet(storage.path(ptr["uri"]) / DATA))
            used[day.isoformat()] = ptr.get("content_hash")
        day += dt.timedelta(days=1)
    if not tables:
        return pa.Table.from_batches([], schema.arrow_schema()), used
    return pa.concat_tables(tables), used


def label_events(cfg: PipelineConfig, cutoff: dt.date) -> tuple[pa.Table, dict[str, Any]]:
    """Labels that arrived in [cutoff - window_days, cutoff), sorted by time then entity."""
    lab = cfg.dataset.label
    first = cutoff - dt.timedelta(days=cfg.training.window_days)
    table, used = _partitions(cfg, lab.name, first, cutoff - dt.timedelta(days=1))
    table = table.sort_by([(lab.timestamp, "ascending"), (cfg.dataset.entity.key, "ascending")])
    return table, used


def feature_views(cfg: PipelineConfig, labels: pa.Table) -> tuple[list[ViewData], dict]:
    """Every feature view's rows that can reach ``labels`` (from min time - TTL to max time)."""
    ts = labels.column(cfg.dataset.label.timestamp)
    lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
    views, used = [], {}
    for src in cfg.dataset.sources:
        ttl = dt.timedelta(days=src.ttl_days)
        table, used[src.name] = _partitions(cfg, src.name, (lo - ttl).date(), hi.date())
        views.append(
            ViewData(
                view_name(cfg, src.name), table, src.timestamp, ttl, [c.name for c in src.columns]
            )
        )
    return views, used


def build_frame(
    cfg: PipelineConfig, cutoff: dt.date, drop_featureless: bool = True
) -> tuple[pa.Table, dict[str, Any]]:
    """The joined, split training rows for ``cutoff`` and where they came from.

    A label with no feature value at all (its moment predates every loaded feature row, or
    every view expired) teaches nothing; such rows are dropped and counted in the lineage.
    """
    labels, label_parts = label_events(cfg, cutoff)
    if labels.num_rows == 0:
        raise DataError(
            f"{cfg.pipeline}: no labels arrived in the {cfg.training.window_days}-day "
            f"window before {cutoff}; run the data DAG for those days first"
        )
    views, feature_parts = feature_views(cfg, labels)
    lab = cfg.dataset.label
    joined = point_in_time_join(labels, cfg.dataset.entity.key, lab.timestamp, views)
    featureless = 0
    if drop_featureless:
        has_any = np.zeros(joined.num_rows, bool)
        for col in cfg.feature_columns:
            has_any |= joined.column(col.name).is_valid().to_numpy(zero_copy_only=False)
        featureless = int((~has_any).sum())
        joined = joined.filter(pa.array(has_any))
    if joined.num_rows == 0:
        raise DataError(
            f"{cfg.pipeline}: none of the labels before {cutoff} has a feature "
            "value; load the feature days that precede the labels"
        )
    split, dropped = split_rows(joined, cfg)
    return split, {
        "labels": label_parts,
        "features": feature_parts,
        "dropped_without_features": featureless,
        "dropped_by_entity_grouping": dropped,
    }


def _manifest(
    cfg: PipelineConfig,
    model: str,
    cutoff: dt.date,
    table: pa.Table,
    digest: str,
    lineage: dict[str, Any],
) -> dict[str, Any]:
    lab = cfg.dataset.label
    features = [c.name for c in cfg.feature_columns]
    splits: dict[str, Any] = {}
    for name in ("train", "valid", "test"):
        part = table.filter(pc.equal(table.column(SPLIT), name))
        ts = part.column(lab.timestamp)
        counts = part.column(lab.column).value_counts().to_pylist()
        splits[name] = {
            "rows": part.num_rows,
            "from": pc.min(ts).as_py().isoformat() if part.num_rows else None,
            "to": pc.max(ts).as_py().isoformat() if part.num_rows else None,
            "entities": pc.count_distinct(part.column(cfg.dataset.entity.key)).as_py(),
            "classes": {c["values"]: c["counts"] for c in counts},
        }
    return {
        "pipeline": cfg.pipeline,
        "model": model,
        "feature_service": service_name(cfg, model),
        "feature_service_version": cfg.features.service_version,
        "cutoff": cutoff.isoformat(),
        "label_window": {
            "arrived_from": (cutoff - dt.timedelta(days=cfg.training.window_days)).isoformat(),
            "arrived_before": cutoff.isoformat(),
        },
        "split_policy": cfg.training.split.model_dump(),
        "rows": table.num_rows,
        "splits": splits,
        "features": features,
        "label": lab.column,
        "classes": lab.classes,
        "null_fraction": {
            f: round(table.column(f).null_count / max(table.num_rows, 1), 6) for f in features
        },
        "content_hash": digest,
        "builder": "duckdb_asof",
        "code_version": code_version(),
        "lock_hash": lock_hash(),
        "lineage": lineage,
    }


def build_training_set(
    cfg: PipelineConfig, cutoff: dt.date, run_id: str, model: str | None = None
) -> dict[str, Any]:
    """Build, commit and describe the training set; an unchanged one reuses its version."""
    model = model or cfg.models[0].name
    table, lineage = build_frame(cfg, cutoff)
    require_splits(table, cfg)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    manifest = _manifest(cfg, model, cutoff, table, digest, lineage)
    name = f"training_sets/{cfg.pipeline}/{service_name(cfg, model)}/cutoff={cutoff.isoformat()}"
    current = storage.pointer(name)
    if current and current.get("content_hash") == digest:
        uri, reused = current["uri"], True
    else:

        def write(prefix: storage.ObjectStoragePath) -> None:
            (prefix / DATASET).write_bytes(data)
            storage.write_json(prefix / MANIFEST, {**manifest, "run_id": run_id})

        uri, reused = storage.commit(name, write, meta={"content_hash": digest}), False
    log.info(
        "%s training set for %s: %s rows (%s) -> %s",
        cfg.pipeline,
        cutoff,
        table.num_rows,
        {k: v["rows"] for k, v in manifest["splits"].items()},
        uri,
    )
    return {
        "uri": uri,
        "dataset_uri": f"{uri}/{DATASET}",
        "manifest_uri": f"{uri}/{MANIFEST}",
        "reused": reused,
        "manifest": manifest,
    }
