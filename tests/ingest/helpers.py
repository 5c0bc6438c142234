"""Shared helpers for ingest tests: land a day, ingest it, look at what was committed."""

from __future__ import annotations

import datetime as dt

from r2p import storage
from r2p.config import PipelineConfig
from r2p.intervals import day_interval

DAY = dt.date(2026, 11, 16)  # a Monday: every fleet source is due
INTERVAL = day_interval(DAY)


def with_landing(cfg: PipelineConfig, **landing) -> PipelineConfig:
    """``cfg`` with some ``landing:`` settings replaced."""
    return cfg.model_copy(update={"landing": cfg.landing.model_copy(update=landing)})


def snapshot(cfg: PipelineConfig, ds: dt.date = DAY) -> dict[str, dict | None]:
    """Every offline pointer of a pipeline for ``ds`` (what downstream reads)."""
    return {
        s: storage.pointer(f"offline/{cfg.dataset.name}/{s}/ds={ds.isoformat()}")
        for s in cfg.source_names
    }
