"""The offline partitions ingest commits: their storage names and how to read one.

``offline/<dataset>/<source>/ds=YYYY-MM-DD/data.parquet``, committed by the storage protocol
(new prefix, pointer last). What other packages (validation, features, training_set) need
of ingest's output lives here, not in ``ingest/stage.py``.
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.ingest.schema import SourceSchema, source_schema

DATA = "data.parquet"


def offline_name(schema: SourceSchema, ds: Any) -> str:
    """The storage name of a source's offline partition."""
    return f"offline/{schema.dataset}/{schema.name}/ds={ds.isoformat()}"


def read_offline(cfg: PipelineConfig, source: str, ds: Any) -> pa.Table | None:
    """The committed offline partition of ``source`` for ``ds``, or None."""
    current = storage.current(offline_name(source_schema(cfg, source), ds))
    return pq.read_table(io.BytesIO((current / DATA).read_bytes())) if current else None
