"""Write generated days into the landing zone, each partition finished by its contract.

Layout: ``<landing>/<dataset>/<source>/ds=YYYY-MM-DD/part-NNNNN.<csv|parquet>``, then the
contract, written last: ``manifest.json`` (files, rows, bytes, sha256) or an empty
``_SUCCESS``. A consumer that sees no contract must not read the partition.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.ingest.contract import MANIFEST, SUCCESS, partition_path
from r2p.sample import defects
from r2p.sample.generator import Generator

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


@dataclass
class PartitionSummary:
    """What was written for one source and day."""

    source: str
    ds: str
    rows: int
    files: list[str]
    contract: str | None
    uri: str
    defects: list[str] = field(default_factory=list)


def _serialise(df: pd.DataFrame, fmt: str) -> bytes:
    """Rows as CSV (ISO 8601 UTC timestamps, millisecond precision) or Parquet bytes."""
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed values (a wrong_type defect): as text
        df = df.copy()
        mixed = [c for c in df.columns if df[c].dtype == object]
        df[mixed] = df[mixed].map(lambda v: v if v is None or isinstance(v, str) else str(v))
        table = pa.Table.from_pandas(df, preserve_index=False)
    for i, fld in enumerate(table.schema):
        if pa.types.is_dictionary(fld.type):  # categories land as plain strings
            table = table.set_column(i, fld.name, table.column(i).cast(pa.string()))
    buf = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, buf)
        return buf.getvalue()
    for i, fld in enumerate(table.schema):
        if pa.types.is_timestamp(fld.type):
            ms = table.column(i).cast(pa.timestamp("ms", tz="UTC"))
            table = table.set_column(i, fld.name, pc.strftime(ms, format="%Y-%m-%dT%H:%M:%SZ"))
    pacsv.write_csv(table, buf, pacsv.WriteOptions(quoting_style="needed"))
    return buf.getvalue()


def _target(cfg: PipelineConfig, source: str) -> defects.Target:
    lab = cfg.dataset.label
    if source == lab.name:
        return defects.Target(cfg.dataset.entity.key, lab.arrival_timestamp, lab.column, [], [])
    src = cfg.source(source)
    numeric = [c.name for c in src.columns if c.dtype in ("int64", "float64")]
    floats = [c.name for c in src.columns if c.dtype == "float64"]
    return defects.Target(cfg.dataset.entity.key, src.timestamp, None, numeric, floats)


def write_partition(
    cfg: PipelineConfig,
    source: str,
    day: dt.date,
    df: pd.DataFrame,
    inject: list[Defect] | None = None,
) -> PartitionSummary:
    """Replace the landing partition of ``source`` for ``day`` with ``df``, contract last."""
    inject = inject or []
    part = partition_path(cfg, source, day)
    if part.exists():  # the contract goes first, so a half-replaced partition is never read
        for name in (MANIFEST, SUCCESS):
            if (part / name).exists():
                (part / name).unlink()
        for old in part.iterdir():
            old.unlink()
    part.mkdir(parents=True, exist_ok=True)
    for d in (d for d in inject if defects.phase_of(d.kind) == "frame"):
        df = defects.FRAME[d.kind](df.copy(), _target(cfg, source), d.fraction)
    fmt = cfg.landing.format
    chunks = np.array_split(np.arange(len(df)), cfg.landing.files_per_partition)
    entries = []
    for i, rows in enumerate(chunks):
        data = _serialise(df.iloc[rows], fmt)
        for d in (d for d in inject if defects.phase_of(d.kind) == "bytes"):
            data = defects.BYTES[d.kind](data) if i == 0 else data
        name = f"part-{i:05d}.{fmt}"
        (part / name).write_bytes(data)
        entries.append(
            {
                "path": name,
                "rows": len(rows),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    contract = _write_contract(cfg, source, day, part, entries, inject)
    return PartitionSummary(
        source,
        day.isoformat(),
        len(df),
        [e["path"] for e in entries],
        contract,
        storage.uri_of(part),
        [d.kind for d in inject],
    )


def _write_contract(
    cfg: PipelineConfig,
    source: str,
    day: dt.date,
    part: storage.ObjectStoragePath,
    entries: list[dict[str, Any]],
    inject: list[Defect],
) -> str | None:
    kinds = {d.kind for d in inject}
    if "no_contract" in kinds:
        return None
    if cfg.landing.contract == "success_marker":
        (part / SUCCESS).write_bytes(b"")
        return SUCCESS
    manifest: dict[str, Any] = {
        "dataset": cfg.dataset.name,
        "source": source,
        "ds": day.isoformat(),
        "format": cfg.landing.format,
        "files": entries,
        "rows": sum(e["rows"] for e in entries),
    }
    for kind in kinds & set(defects.CONTRACT):
        fn = defects.CONTRACT[kind]
        manifest = fn(manifest) if fn else manifest
    (part / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return MANIFEST


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
        label_day = day - dt.timedelta(days=cfg.dataset.label.delay_days)
        frames[cfg.dataset.label.name] = gen.labels_arriving(
            day, drift=drift_from is not None and label_day >= drift_from
        )
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
