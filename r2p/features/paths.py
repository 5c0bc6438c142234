"""Where Feast's files live: its sources under the storage root, its stores under the home.

Feast's file-based readers cannot follow r2p's commit pointers, so the materialise stage
publishes each committed offline partition to ``<storage>/feast/<dataset>/<source>/<ds>.parquet``
(one file per partition, replaced atomically on a rerun); Feast sources read that folder.
"""

from __future__ import annotations

import datetime as dt

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.home import storage_uri


def source_dir(cfg: PipelineConfig, source: str) -> storage.ObjectStoragePath:
    """The folder Feast reads one source from."""
    return storage.root() / "feast" / cfg.dataset.name / source


def source_file(cfg: PipelineConfig, source: str, ds: dt.date) -> storage.ObjectStoragePath:
    """The published copy of one offline partition."""
    return source_dir(cfg, source) / f"{ds.isoformat()}.parquet"


def source_glob(cfg: PipelineConfig, source: str) -> str:
    """The path Feast's FileSource is given: a glob over the published partitions."""
    root = storage_uri()
    base = root.removeprefix("file://") if root.startswith("file://") else root
    return f"{base}/feast/{cfg.dataset.name}/{source}/*.parquet"
