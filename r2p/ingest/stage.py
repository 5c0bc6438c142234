"""The ingest stage: one landing partition in, one offline partition out (or a quarantine).

``offline/<dataset>/<source>/ds=YYYY-MM-DD/`` holds ``data.parquet`` typed to the declared
schema, sorted by entity and timestamp, committed by the storage protocol; a rerun that
produces the same bytes reuses the committed version, a corrected rerun replaces it. A
refused batch commits nothing here, so nothing downstream changes.
"""

from __future__ import annotations

import hashlib
import io
import logging
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.errors import BatchRejected
from r2p.ingest.contract import is_due
from r2p.ingest.offline import DATA, offline_name
from r2p.ingest.quarantine import read_quarantine, write_quarantine
from r2p.ingest.read import read_batch
from r2p.ingest.rows import reason_counts, split_rows
from r2p.ingest.schema import SourceSchema, source_schema
from r2p.intervals import Interval

log = logging.getLogger(__name__)


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _commit_offline(schema: SourceSchema, ds: Any, table: pa.Table, meta: dict) -> tuple[str, bool]:
    data = _parquet_bytes(table)
    digest = hashlib.sha256(data).hexdigest()
    name = offline_name(schema, ds)
    current = storage.pointer(name)
    if current and current.get("content_hash") == digest:
        return current["uri"], True
    uri = storage.commit(
        name, lambda p: (p / DATA).write_bytes(data), meta={**meta, "content_hash": digest}
    )
    return uri, False


def ingest_source(cfg: PipelineConfig, source: str, interval: Interval, run_id: str) -> dict:
    """Ingest ``source`` for ``interval``; raise BatchRejected (after quarantining) if refused."""
    schema = source_schema(cfg, source)
    ds = interval.ds
    if not is_due(cfg, source, ds):
        log.info("%s is not due on %s (cadence); nothing to ingest", source, ds)
        return {"source": source, "ds": ds.isoformat(), "status": "not_due"}
    try:
        batch = read_batch(cfg, schema, ds)
    except BatchRejected as exc:
        uri = write_quarantine(schema, interval, run_id, exc.record)
        exc.record["quarantine_uri"] = uri
        exc.args = (f"{exc.args[0]}; quarantine record {uri}",)
        raise
    good, bad = split_rows(batch.table, schema, interval)
    total, max_frac = batch.table.num_rows, cfg.landing.max_bad_row_fraction
    reasons = reason_counts(bad)
    record = {
        "landing_uri": batch.landing_uri,
        "landing_files": batch.files,
        "rows_total": total,
        "rows_bad": len(bad),
        "reasons": reasons,
        "max_bad_row_fraction": max_frac,
    }
    if len(bad) > max_frac * total:
        uri = write_quarantine(schema, interval, run_id, {**record, "kind": "rows_rejected"}, bad)
        raise BatchRejected(
            f"batch {schema.dataset}/{source} ds={ds} refused: {len(bad)} of {total} rows "
            f"({len(bad) / total:.2%}) have defects, above the allowed "
            f"{max_frac:.2%} (max_bad_row_fraction); reasons {reasons}; quarantine record {uri} "
            f"[{batch.landing_uri}]",
            {**record, "kind": "rows_rejected", "quarantine_uri": uri},
        )
    table = good.sort_by([(schema.key, "ascending"), (schema.event_ts, "ascending")])
    meta = {"rows": table.num_rows, "interval": interval.as_json(), "landing_files": batch.files}
    labels_uri = None
    if schema.label and cfg.dataset.label.inline:  # the label beside the features: two parts
        labels = schema.labels_schema(cfg.dataset.label.name)
        labels_uri, _ = _commit_offline(
            labels, ds, table.select(labels.names).cast(labels.arrow_schema()), meta
        )
        schema = schema.without_label()
    table = table.select(schema.names).cast(schema.arrow_schema())
    offline_uri, reused = _commit_offline(schema, ds, table, meta)
    quarantine_uri = None
    if len(bad):
        quarantine_uri = write_quarantine(
            schema, interval, run_id, {**record, "kind": "rows_quarantined"}, bad
        )
        log.warning(
            "%s ds=%s: %d of %d rows quarantined (%s), within the allowed %.2f%%",
            source,
            ds,
            len(bad),
            total,
            reasons,
            100 * max_frac,
        )
    elif (read_quarantine(schema, ds) or {}).get("kind") not in (None, "cleared"):
        quarantine_uri = write_quarantine(schema, interval, run_id, {**record, "kind": "cleared"})
    log.info(
        "%s ds=%s: %d rows accepted -> %s%s",
        source,
        ds,
        table.num_rows,
        offline_uri,
        " (unchanged, reused)" if reused else "",
    )
    return {
        "source": source,
        "ds": ds.isoformat(),
        "status": "ingested",
        "rows_landed": total,
        "rows_accepted": table.num_rows,
        "rows_quarantined": len(bad),
        "reasons": reasons,
        "offline_uri": offline_uri,
        "labels_uri": labels_uri,
        "reused": reused,
        "quarantine_uri": quarantine_uri,
    }
