"""Write generated days into the landing zone through the producer's writer
(``r2p.landing.writer``: files, then the contract, last), optionally with defects.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from r2p.config.schema import PipelineConfig
from r2p.ingest.contract import partition_path
from r2p.landing import writer
from r2p.landing.writer import PartitionSummary
from r2p.sample import defects
from r2p.sample.generator import Generator

__all__ = ["Defect", "PartitionSummary", "generate_days", "partition_path", "write_partition"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Defect:
    """Inject ``kind`` into ``source`` (default: the first feature source) on one day."""

    kind: str
    source: str | None = None
    day: dt.date | None = None
    fraction: float = 0.01

    def __post_init__(self) -> None:
        defects.phase_of(self.kind)


def _target(cfg: PipelineConfig, source: str) -> defects.Target:
    lab = cfg.dataset.label
    if source == lab.name:
        return defects.Target(cfg.dataset.entity.key, lab.arrival_timestamp, lab.column, [], [])
    src = cfg.source(source)
    numeric = [c.name for c in src.columns if c.dtype in ("int64", "float64")]
    floats = [c.name for c in src.columns if c.dtype == "float64"]
    label = lab.column if lab.source == source else None
    return defects.Target(cfg.dataset.entity.key, src.timestamp, label, numeric, floats)


def write_partition(
    cfg: PipelineConfig,
    source: str,
    day: dt.date,
    df: pd.DataFrame,
    inject: list[Defect] | None = None,
) -> PartitionSummary:
    """Replace the landing partition of ``source`` for ``day`` with ``df``, contract last,
    through the producer's writer (``r2p.landing.writer``), with ``inject``'s defects."""
    inject = inject or []
    for d in (d for d in inject if defects.phase_of(d.kind) == "frame"):
        df = defects.FRAME[d.kind](df.copy(), _target(cfg, source), d.fraction)
    spoil = [d for d in inject if defects.phase_of(d.kind) == "bytes"]
    kinds = {d.kind for d in inject}

    def bytes_hook(i: int, data: bytes) -> bytes:
        for d in spoil:
            data = defects.BYTES[d.kind](data) if i == 0 else data
        return data

    def manifest_hook(manifest: dict[str, Any]) -> dict[str, Any]:
        for kind in kinds & set(defects.CONTRACT):
            fn = defects.CONTRACT[kind]
            manifest = fn(manifest) if fn else manifest
        return manifest

    summary = writer.write_partition(
        cfg,
        source,
        day,
        df,
        bytes_hook=bytes_hook,
        manifest_hook=manifest_hook,
        contract="no_contract" not in kinds,
    )
    summary.defects = [d.kind for d in inject]
    return summary


def generate_days(
    cfg: PipelineConfig,
    start: dt.date,
    days: int,
    *,
    entities: int | None = None,
    seed: int | None = None,
    drift_from: dt.date | None = None,
    inject: list[Defect] | None = None,
) -> list[PartitionSummary]:
    """Write every source due on each of ``days`` days from ``start``, plus the labels."""
    gen = Generator.for_config(cfg, entities=entities, seed=seed)
    first_source = cfg.dataset.sources[0].name
    out = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        todays = [d for d in inject or [] if d.day in (None, day)]
        frames: dict[str, pd.DataFrame | None] = {
            s.name: gen.source(s.name, day) for s in cfg.dataset.sources
        }
        lab = cfg.dataset.label
        label_day = day - dt.timedelta(days=lab.delay_days)
        drift = drift_from is not None and label_day >= drift_from
        if lab.inline:  # the label is a column of its source's rows
            frame = frames[lab.source]
            if frame is not None:
                frames[lab.source] = gen.with_labels(frame, drift=drift)
        else:
            frames[lab.name] = gen.labels_arriving(day, drift=drift)
        for source, frame in frames.items():
            if frame is None:
                continue
            mine = [d for d in todays if (d.source or first_source) == source]
            summary = write_partition(cfg, source, day, frame, mine)
            log.info(
                "wrote %s ds=%s: %d rows, contract %s%s",
                source,
                summary.ds,
                summary.rows,
                summary.contract,
                f", defects {summary.defects}" if mine else "",
            )
            out.append(summary)
    return out
