"""Quarantine: refused batches and defective rows, kept with machine-readable reasons.

``quarantine/<dataset>/<source>/ds=YYYY-MM-DD/`` holds, per the commit protocol, a
``record.json`` (what was refused and why, which run, which landing files) and, for row
defects, ``rows.parquet`` (the rows, as landed, with a ``_reason`` column).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pandas as pd

from r2p import storage
from r2p.ingest.schema import SourceSchema
from r2p.intervals import Interval

RECORD = "record.json"
ROWS = "rows.parquet"


def quarantine_name(schema: SourceSchema, ds: dt.date) -> str:
    """The storage name of a source's quarantine for one partition."""
    return f"quarantine/{schema.dataset}/{schema.name}/ds={ds.isoformat()}"


def write_quarantine(
    schema: SourceSchema,
    interval: Interval,
    run_id: str,
    record: dict[str, Any],
    rows: pd.DataFrame | None = None,
) -> str:
    """Commit a quarantine record (and the bad rows, if any); returns its URI."""
    full = {
        **record,
        "dataset": schema.dataset,
        "source": schema.name,
        "ds": interval.ds.isoformat(),
        "interval": interval.as_json(),
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "rows_file": ROWS if rows is not None and not rows.empty else None,
    }

    def write(prefix: storage.ObjectStoragePath) -> None:
        if full["rows_file"]:
            buf = io.BytesIO()
            rows.astype({c: str for c in rows.columns if rows[c].dtype == object}).to_parquet(
                buf, index=False
            )
            (prefix / ROWS).write_bytes(buf.getvalue())
        storage.write_json(prefix / RECORD, full)

    return storage.commit(quarantine_name(schema, interval.ds), write, meta={"kind": full["kind"]})


def read_quarantine(schema: SourceSchema, ds: dt.date) -> dict[str, Any] | None:
    """The current quarantine record of a partition, or None."""
    current = storage.current(quarantine_name(schema, ds))
    return storage.read_json(current / RECORD) if current else None
