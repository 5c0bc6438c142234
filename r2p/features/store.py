"""The materialise stage: publish the interval's partitions to Feast, apply, materialise.

``materialize(start, end)`` covers exactly the run's interval (end exclusive: Feast's bound
is inclusive, so it gets ``end - 1 µs``), never "incremental from the registry's watermark".
Registry writers are serialised: a file lock on one machine, a PostgreSQL advisory lock for
the SQL registry (every machine).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
import warnings
from typing import Any

from feast import FeatureStore

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.features.definitions import feast_objects, view_name
from r2p.features.duckdb_storage import serve_storage
from r2p.features.paths import source_file
from r2p.features.repo_config import (
    REPO,
    RegistryUnavailable,
    registry_address,
    registry_lock,
    repo_config,
)
from r2p.ingest.contract import due_sources
from r2p.ingest.offline import DATA, offline_name
from r2p.ingest.schema import source_schema
from r2p.intervals import Interval

log = logging.getLogger(__name__)
# ibis (under Feast's DuckDB store) calls a DuckDB method DuckDB 2 deprecates, once per read.
warnings.filterwarnings("ignore", message=r"fetch_arrow_table\(\) is deprecated")
EXCLUSIVE = dt.timedelta(microseconds=1)


def feature_store(offline_store: str | None = None) -> FeatureStore:
    """The project's FeatureStore on the backends the environment selects
    (:mod:`r2p.features.repo_config`); ``offline_store="file"`` gives Feast's reference reader.

    A SQL registry is connected here, so an unreachable PostgreSQL fails at once, within its
    ``connect_timeout``, as :class:`RegistryUnavailable` naming the server."""
    config = repo_config(offline_store)
    serve_storage()  # an s3:// root: DuckDB reads it through the storage connection
    store = FeatureStore(config=config, repo_path=str(REPO))
    if config.registry.registry_type == "sql":
        from sqlalchemy.exc import OperationalError

        try:
            store.registry  # noqa: B018 - Feast creates (and connects) its registry lazily
        except OperationalError as exc:
            where = registry_address(config.registry.path)
            raise RegistryUnavailable(
                f"Feast SQL registry (PostgreSQL at {where}) is unreachable: {exc.orig or exc}"
            ) from exc
    return store


def publish(cfg: PipelineConfig, source: str, ds: dt.date) -> dict[str, Any] | None:
    """Copy the committed offline partition to Feast's source folder (atomic on local disk)."""
    current = storage.current(offline_name(source_schema(cfg, source), ds))
    if current is None:
        return None
    data = (current / DATA).read_bytes()
    target = source_file(cfg, source, ds)
    digest = hashlib.sha256(data).hexdigest()
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == digest:
        return {"source": source, "uri": storage.uri_of(target), "changed": False}
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.protocol in ("s3", "s3a"):
        target.write_bytes(data)
    else:
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_bytes(data)
        tmp.rename(target)
    return {"source": source, "uri": storage.uri_of(target), "changed": True}


def apply_definitions(store: FeatureStore, cfg: PipelineConfig) -> list[str]:
    """Register the pipeline's Feast objects (partial: other pipelines' objects stay)."""
    objects = feast_objects(cfg)
    store.apply(objects, partial=True)
    return [o.name for o in objects]


def materialize_interval(cfg: PipelineConfig, interval: Interval, run_id: str) -> dict:
    """Publish, apply and materialise the run's interval; returns what it did."""
    ds = interval.ds
    with registry_lock():
        published = [p for s in due_sources(cfg, ds) if (p := publish(cfg, s, ds))]
        store = feature_store()
        applied = apply_definitions(store, cfg)
        views = [view_name(cfg, s.name) for s in cfg.dataset.sources if s.is_due(ds)]
        if views:
            store.materialize(
                start_date=interval.start, end_date=interval.end - EXCLUSIVE, feature_views=views
            )
    log.info(
        "%s ds=%s: materialised %s for [%s, %s)",
        cfg.pipeline,
        ds,
        views,
        interval.start.isoformat(),
        interval.end.isoformat(),
    )
    return {
        "ds": ds.isoformat(),
        "interval": interval.as_json(),
        "run_id": run_id,
        "published": published,
        "feature_views": views,
        "applied": applied,
    }
