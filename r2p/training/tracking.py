"""MLflow tracking: one run per (window, spec, seed, code), reused when it already exists.

Embedded default: SQLite and an artifact folder under ``$R2P_HOME/mlflow``; production sets
``MLFLOW_TRACKING_URI``: ``postgresql://...`` (tracking and registry straight on PostgreSQL)
or ``http://...`` (an MLflow server). Both get the deployment's timeouts
(``r2p.config.schema.Timeouts``): libpq ``connect_timeout`` and ``statement_timeout`` in the
URI, or MLflow's ``MLFLOW_HTTP_REQUEST_*`` settings (an explicit environment value wins).

A run carries the resolved config, the feature service, the dataset manifest and hash,
per-epoch metrics of both frameworks, and the reuse key.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from r2p.config.schema import Timeouts
from r2p.home import home

REUSE_TAG = "r2p.reuse_key"
CONFIG_TAG = "r2p.config_hash"
CONFIG_ARTIFACT = "resolved_config.json"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` (with timeouts added) or SQLite under the home."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return with_timeouts(uri)
    folder = home() / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def with_timeouts(uri: str, bounds: Timeouts | None = None) -> str:
    """``uri`` bounded by the deployment's timeouts: libpq parameters on a PostgreSQL URI
    (kept when the URI sets them), MLflow's HTTP settings in the environment for a server."""
    bounds = bounds or Timeouts.from_env()
    parts = urlsplit(uri)
    if parts.scheme.startswith("postgresql"):
        query = dict(parse_qsl(parts.query))
        query.setdefault("connect_timeout", str(max(2, math.ceil(bounds.connect_timeout))))
        query.setdefault("options", f"-c statement_timeout={int(bounds.statement_timeout * 1000)}")
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
    if parts.scheme in ("http", "https"):
        for var, value in {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": math.ceil(bounds.connect_timeout + bounds.read_timeout),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": bounds.network_retries,
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": math.ceil(bounds.retry_backoff),  # an int
            "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": 0,
        }.items():
            os.environ.setdefault(var, str(value))  # MLflow reads these per request
    return uri


def tracking_client() -> Any:
    """A client bound to this home's tracking store and registry.

    Never ``mlflow.set_tracking_uri``: it exports ``MLFLOW_TRACKING_URI`` into the process
    environment, which would pin every later home (and subprocess) to the first one's store.
    """
    import mlflow

    uri = tracking_uri()
    _reachable(uri)
    _follow_home(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


class TrackingUnavailable(ConnectionError):
    """MLflow's database could not be reached within its connect timeout."""


_REACHED: set[str] = set()


def _reachable(uri: str) -> None:
    """Connect to a PostgreSQL tracking store once per process before MLflow does: MLflow
    retries creating its engine ten times (minutes against a dead server); this fails once,
    within ``connect_timeout``, naming the server. A created engine does not retry."""
    if uri in _REACHED or not uri.startswith("postgresql"):
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(uri, poolclass=NullPool)
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.OperationalError as exc:
        parts = urlsplit(uri)
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        raise TrackingUnavailable(
            f"MLflow tracking store (PostgreSQL at {where}) is unreachable: {exc.orig or exc}"
        ) from exc
    finally:
        engine.dispose()
    _REACHED.add(uri)


_FOLLOWED: set[str] = set()
# where MLflow's SQLite store keeps absolute artifact URIs
ARTIFACT_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)


def _follow_home(uri: str) -> None:
    """After the home was moved (or copied): re-base the embedded store's artifact URIs.

    MLflow keeps absolute artifact URIs in its database (experiments, runs, model versions).
    For the embedded default only (``MLFLOW_TRACKING_URI`` and ``R2P_MLFLOW_ARTIFACTS`` unset:
    SQLite and artifacts both under the home), every URI under another home's
    ``.../mlflow/artifacts`` is rewritten to this home's, once per process and store (a no-op
    when nothing moved). A server or an explicit artifact store is left alone.
    """
    if uri in _FOLLOWED or not uri.startswith("sqlite:///"):
        return
    if os.environ.get("MLFLOW_TRACKING_URI") or os.environ.get("R2P_MLFLOW_ARTIFACTS"):
        return
    db = Path(uri[len("sqlite:///") :])
    if db.exists():
        import sqlite3

        want = artifact_location()
        conn = sqlite3.connect(db, timeout=60)
        try:
            tables = {
                t: {c[1] for c in conn.execute(f"PRAGMA table_info({t})")}
                for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "experiments" in tables:
                olds = {
                    loc.rstrip("/")
                    for (loc,) in conn.execute("SELECT artifact_location FROM experiments")
                    if loc and loc.rstrip("/").endswith("/mlflow/artifacts")
                }
                with conn:
                    for old in olds - {want}:
                        for table, col in ARTIFACT_COLUMNS:
                            if col not in tables.get(table, ()):
                                continue
                            conn.execute(
                                f"UPDATE {table} SET {col} = ? || substr({col}, ?) "
                                f"WHERE {col} = ? OR substr({col}, 1, ?) = ?",
                                (want, len(old) + 1, old, len(old) + 1, old + "/"),
                            )
        finally:
            conn.close()
    _FOLLOWED.add(uri)


def experiment_id(pipeline: str) -> str:
    """The pipeline's experiment (``r2p/<pipeline>``), created with artifacts under the home."""
    client = tracking_client()
    name = f"r2p/{pipeline}"
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location())


def artifact_location() -> str | None:
    """Where a new experiment keeps its artifacts: ``R2P_MLFLOW_ARTIFACTS``; else the
    server's choice for an MLflow server, and ``$R2P_HOME/mlflow/artifacts`` for a database
    store (MLflow's own default there is ``./mlruns`` in whatever the working directory is)."""
    explicit = os.environ.get("R2P_MLFLOW_ARTIFACTS")
    if explicit:
        return explicit
    if urlsplit(tracking_uri()).scheme in ("http", "https"):
        return None
    return (home() / "mlflow" / "artifacts").as_uri()


def find_run(pipeline: str, key: str) -> str | None:
    """The finished run with this reuse key, if one exists."""
    client = tracking_client()
    runs = client.search_runs(
        [experiment_id(pipeline)],
        filter_string=f"tags.`{REUSE_TAG}` = '{key}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def log_run(
    pipeline: str,
    key: str,
    *,
    params: dict[str, Any],
    tags: dict[str, str],
    histories: dict[str, list[dict[str, float]]],
    metrics: dict[str, float],
    artifacts: dict[str, Any],
) -> str:
    """Create the run for ``key`` (or return the existing one) and log everything to it.

    A ``resolved_config.json`` artifact (the run's config snapshot) gets its sha256 beside it
    as the tag ``r2p.config_hash`` (the same hash as ``r2p.run_config.config_hash``)."""
    existing = find_run(pipeline, key)
    if existing:
        return existing
    resolved = artifacts.get(CONFIG_ARTIFACT)
    if isinstance(resolved, str):
        tags = {CONFIG_TAG: hashlib.sha256(resolved.encode()).hexdigest(), **tags}
    client = tracking_client()
    run = client.create_run(
        experiment_id(pipeline),
        tags={**tags, REUSE_TAG: key},
        run_name=f"{tags.get('model', 'model')}-{key[:8]}",
    )
    run_id = run.info.run_id
    try:
        for k, v in params.items():
            client.log_param(run_id, k, v)
        for prefix, history in histories.items():
            for row in history:
                for name, value in row.items():
                    if name != "epoch" and value == value:  # skip NaN
                        client.log_metric(run_id, f"{prefix}_{name}", value, step=int(row["epoch"]))
        for name, value in metrics.items():
            if value == value:
                client.log_metric(run_id, name, value)
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in artifacts.items():
                path = Path(tmp) / name
                path.write_text(
                    content
                    if isinstance(content, str)
                    else json.dumps(content, indent=2, sort_keys=True, default=str)
                )
                client.log_artifact(run_id, str(path))
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def compare(pipeline: str, last: int = 5) -> list[dict[str, Any]]:
    """The newest runs of a pipeline: id, tags, parameters and final metrics."""
    client = tracking_client()
    runs = client.search_runs(
        [experiment_id(pipeline)], order_by=["attributes.start_time DESC"], max_results=last
    )
    return [
        {
            "run_id": r.info.run_id,
            "start": r.info.start_time,
            "status": r.info.status,
            "tags": {k: v for k, v in r.data.tags.items() if k.startswith("r2p.")},
            "params": dict(r.data.params),
            "metrics": dict(r.data.metrics),
        }
        for r in runs
    ]
