"""Load days through the real stages (landing -> ingest -> Feast) for feature-store tests."""

from __future__ import annotations

import datetime as dt

from r2p.config import PipelineConfig
from r2p.features.store import materialize_interval
from r2p.ingest.stage import ingest_source
from r2p.intervals import day_interval
from r2p.sample.landing import generate_days


def load_days(
    cfg: PipelineConfig,
    start: dt.date,
    days: int,
    entities: int = 60,
    seed: int | None = None,
    materialize: bool = True,
    drift_from: dt.date | None = None,
) -> None:
    """Generate, ingest and (optionally) materialise ``days`` days from ``start`` (labels of
    label days from ``drift_from`` on follow the drifted relationship)."""
    generate_days(cfg, start, days, entities=entities, seed=seed, drift_from=drift_from)
    for i in range(days):
        interval = day_interval(start + dt.timedelta(days=i))
        for source in cfg.source_names:
            ingest_source(cfg, source, interval, "test")
        if materialize:
            materialize_interval(cfg, interval, "test")


def online(store, cfg: PipelineConfig, entity_ids: list, service: str | None = None) -> dict:
    """Online feature values for ``entity_ids`` through the model's FeatureService."""
    service = service or f"{cfg.pipeline}_{cfg.models[0].name}_v1"
    rows = [{cfg.dataset.entity.key: e} for e in entity_ids]
    return store.get_online_features(
        features=store.get_feature_service(service), entity_rows=rows
    ).to_dict()


def write_activity(store, events: list[tuple[dt.datetime, int]], customer: int = 7) -> None:
    """Write ``churn_activity`` rows straight to the online store: one per (event time,
    pages_viewed), every other feature fixed."""
    import pandas as pd

    n = len(events)
    store.write_to_online_store(
        "churn_activity",
        pd.DataFrame(
            {
                "customer_id": [customer] * n,
                "event_ts": [pd.Timestamp(ts) for ts, _ in events],
                "session_minutes": [1.0] * n,
                "pages_viewed": [pages for _, pages in events],
                "device": ["tv"] * n,
                "channel": ["app"] * n,
                "purchase_amount": [0.0] * n,
                "error_count": [0] * n,
            }
        ),
    )
