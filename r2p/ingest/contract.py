"""The landing contract: where a partition lives and how it says it is complete.

A producer writes ``<landing>/<dataset>/<source>/ds=YYYY-MM-DD/`` files, then the contract
last: ``manifest.json`` (files, rows, bytes, sha256) or an empty ``_SUCCESS``, as the
pipeline config declares. A partition without its contract is never read.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import ObjectStoragePath

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.home import landing_uri

MANIFEST = "manifest.json"
SUCCESS = "_SUCCESS"


def partition_path(cfg: PipelineConfig, source: str, day: dt.date) -> ObjectStoragePath:
    """The landing partition of ``source`` for ``day``."""
    return storage.path(landing_uri()) / cfg.dataset.name / source / f"ds={day.isoformat()}"


def contract_name(cfg: PipelineConfig) -> str:
    """The file that completes a partition under this pipeline's contract."""
    return MANIFEST if cfg.landing.contract == "manifest" else SUCCESS


def contract_path(cfg: PipelineConfig, source: str, day: dt.date) -> ObjectStoragePath:
    """Where the contract of ``source`` for ``day`` appears when the partition is complete."""
    return partition_path(cfg, source, day) / contract_name(cfg)


def due_sources(cfg: PipelineConfig, day: dt.date) -> list[str]:
    """Sources with a partition for ``day``: feature sources by cadence; labels daily, or with
    their feature source when the label is one of its columns."""
    lab = cfg.dataset.label
    due = [s.name for s in cfg.dataset.sources if s.is_due(day)]
    return due + ([lab.name] if not lab.inline or lab.source in due else [])


def is_due(cfg: PipelineConfig, source: str, day: dt.date) -> bool:
    """Whether ``source`` delivers a partition for ``day``."""
    return source in due_sources(cfg, day)


def data_files(part: ObjectStoragePath) -> list[ObjectStoragePath]:
    """The data files of a partition: everything but the contract and hidden files."""
    if not part.exists():
        return []
    return sorted(
        (p for p in part.iterdir() if not p.name.startswith((".", "_")) and p.name != MANIFEST),
        key=lambda p: p.name,
    )
