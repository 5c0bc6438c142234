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
