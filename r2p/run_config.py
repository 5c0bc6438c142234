"""One config per run (DESIGN §3): a run resolves its pipeline config once, at its start.

The first task of a run that needs the config loads the YAML, resolves it (every default
filled in, :func:`r2p.config.loader.resolved_json`) and publishes the snapshot with its sha256
as ``<storage>/runs/<pipeline>/<run id>/config/<instance>.json``, created exclusively (a hard
link locally, a conditional PUT on S3): the first writer wins, and a task that lost the race
reads the winner's snapshot.

``instance`` is the DAG run's ``run_after``: it stays the same when tasks of the run are
cleared and rerun (they keep the run's config: a config fix needs a new run), and differs when
a run is deleted and created again under the same id (``airflow dags test`` does that for a
logical date it ran before: it is a new run, so it reads the YAML anew). Callers outside
Airflow pass none (``"-"``). Every later task of the run (on any machine) validates the snapshot
instead of reading the YAML, so an edit of the YAML during a run changes the next run only.
The hash goes into every stage record of the run (:class:`r2p.runner.RunInfo`), the exported
model's ``contract.json`` and the MLflow run (tag ``r2p.config_hash``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from r2p import storage
from r2p.config.loader import config_path, load_pipeline, resolved_json
from r2p.config.schema import PipelineConfig

SNAPSHOTS = "config"
NO_INSTANCE = "-"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """A run's config snapshot: the validated config, its hash and where it is stored."""

    config: PipelineConfig
    config_hash: str
    uri: str
    resolved_at: str
    source: str | None


def config_hash(cfg: PipelineConfig) -> str:
    """sha256 (hex) of the resolved config's stable JSON."""
    return hashlib.sha256(resolved_json(cfg).encode()).hexdigest()


def _safe(run_id: str) -> str:
    from r2p.runner import RunInfo

    return RunInfo("-", run_id).safe_id


def instance_of(run_after: Any) -> str:
    """The snapshot's instance name for a DAG run's ``run_after`` (None: no instance)."""
    if run_after is None:
        return NO_INSTANCE
    text = run_after.isoformat() if hasattr(run_after, "isoformat") else str(run_after)
    return _safe(text)


def snapshot_path(
    pipeline: str, run_id: str, instance: str = NO_INSTANCE
) -> storage.ObjectStoragePath:
    """``<storage>/runs/<pipeline>/<run id>/config/<instance>.json`` (beside the stage
    records)."""
    return storage.root() / "runs" / pipeline / _safe(run_id) / SNAPSHOTS / f"{instance}.json"


def snapshot(pipeline: str, run_id: str, instance: str | None = None) -> dict[str, Any] | None:
    """The stored snapshot record of a run instance (default: the run's newest), or None
    before its first task resolved it."""
    if instance is not None:
        p = snapshot_path(pipeline, run_id, instance)
        return storage.read_json(p) if p.exists() else None
    folder = storage.root() / "runs" / pipeline / _safe(run_id) / SNAPSHOTS
    if not folder.exists():
        return None
    found = [storage.read_json(p) for p in folder.iterdir() if p.name.endswith(".json")]
    return max(found, key=lambda r: r["resolved_at"]) if found else None


def _record(pipeline: str, run_id: str, instance: str) -> dict[str, Any]:
    cfg = load_pipeline(pipeline)
    text = resolved_json(cfg)
    return {
        "pipeline": cfg.pipeline,
        "run_id": run_id,
        "instance": instance,
        "config_hash": hashlib.sha256(text.encode()).hexdigest(),
        "resolved_at": dt.datetime.now(dt.UTC).isoformat(),
        "source": str(config_path(pipeline)),
        "config": json.loads(text),
    }


def for_run(pipeline: str, run_id: str, instance: str = NO_INSTANCE) -> RunConfig:
    """The run's config: its snapshot, created from the YAML now if this is the run's first
    task (first writer wins; everyone reads what was stored)."""
    p = snapshot_path(pipeline, run_id, instance)
    if not p.exists():
        record = _record(pipeline, run_id, instance)
        try:
            storage.create_exclusive(p, json.dumps(record, indent=2, sort_keys=True) + "\n")
            log.info("%s run %s: config resolved (%s)", pipeline, run_id, record["config_hash"])
        except FileExistsError:
            pass  # another task of this run was first: its snapshot is the run's
    record = storage.read_json(p)
    cfg = PipelineConfig.model_validate(record["config"])
    if config_hash(cfg) != record["config_hash"]:  # the schema's code changed within the run
        log.warning(
            "%s run %s: the snapshot re-validates to another hash (%s, stored %s); the stored "
            "one stays the run's",
            pipeline,
            run_id,
            config_hash(cfg)[:12],
            record["config_hash"][:12],
        )
    return RunConfig(
        cfg, record["config_hash"], storage.uri_of(p), record["resolved_at"], record.get("source")
    )


def config_for_run(pipeline: str, run_id: str, instance: str = NO_INSTANCE) -> PipelineConfig:
    """The config every task of run ``run_id`` uses (see :func:`for_run`)."""
    return for_run(pipeline, run_id, instance).config
