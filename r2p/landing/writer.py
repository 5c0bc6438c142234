"""Write one landing partition: data files, then its contract, last.

Layout: ``<landing>/<dataset>/<source>/ds=YYYY-MM-DD/part-NNNNN.<csv|parquet>``, then the
contract: ``manifest.json`` (files, rows, bytes, sha256; ``docs/landing-manifest.schema.json``)
or an empty ``_SUCCESS``. A consumer that sees no contract must not read the partition, so a
partition being replaced loses its contract first. Columns are written under their landing
headers (``source_name`` in the config), the names a producer's files carry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
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
from r2p.ingest.schema import source_schema


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


def serialise(df: pd.DataFrame, fmt: str) -> bytes:
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


def headers(cfg: PipelineConfig, source: str) -> dict[str, str]:
    """r2p's column name -> the landing file's header, for the columns whose differ."""
    return {f.name: f.header for f in source_schema(cfg, source).fields if f.header}


def _clear(part: storage.ObjectStoragePath) -> None:
    if part.exists():  # the contract goes first, so a half-replaced partition is never read
        for name in (MANIFEST, SUCCESS):
            if (part / name).exists():
                (part / name).unlink()
        for old in part.iterdir():
            old.unlink()
    part.mkdir(parents=True, exist_ok=True)


def write_partition(
    cfg: PipelineConfig,
    source: str,
    day: dt.date,
    df: pd.DataFrame,
    *,
    bytes_hook: Callable[[int, bytes], bytes] | None = None,
    manifest_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    contract: bool = True,
) -> PartitionSummary:
    """Replace the landing partition of ``source`` for ``day`` with ``df`` (r2p's column
    names), written under the landing headers, contract last. The hooks let the sample
    generator spoil a file's bytes or the manifest the way a broken producer would."""
    part = partition_path(cfg, source, day)
    _clear(part)
    df = df.rename(columns=headers(cfg, source))
    fmt = cfg.landing.format
    chunks = np.array_split(np.arange(len(df)), cfg.landing.files_per_partition)
    entries = []
    for i, rows in enumerate(chunks):
        data = serialise(df.iloc[rows], fmt)
        data = bytes_hook(i, data) if bytes_hook else data
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
    written = _write_contract(cfg, source, day, part, entries, manifest_hook) if contract else None
    files = [e["path"] for e in entries]
    return PartitionSummary(source, day.isoformat(), len(df), files, written, storage.uri_of(part))


def manifest_for(
    cfg: PipelineConfig, source: str, day: dt.date, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """The manifest of a partition (``docs/landing-manifest.schema.json``)."""
    return {
        "dataset": cfg.dataset.name,
        "source": source,
        "ds": day.isoformat(),
        "format": cfg.landing.format,
        "files": entries,
        "rows": sum(e["rows"] for e in entries),
    }


def _write_contract(
    cfg: PipelineConfig,
    source: str,
    day: dt.date,
    part: storage.ObjectStoragePath,
    entries: list[dict[str, Any]],
    manifest_hook: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> str:
    if cfg.landing.contract == "success_marker":
        (part / SUCCESS).write_bytes(b"")
        return SUCCESS
    manifest = manifest_for(cfg, source, day, entries)
    manifest = manifest_hook(manifest) if manifest_hook else manifest
    (part / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return MANIFEST
