"""A real stack for one test module: its own home, PostgreSQL database, Redis key prefix and
ports; always brought down (and the database dropped) even when a test fails."""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.conftest import REPO, require

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def services_or_skip() -> None:
    """Skip (or fail under CI) unless PostgreSQL and Redis answer."""
    import redis

    from r2p.stack.database import _admin

    try:
        conn, _ = _admin(f"{PG}/postgres")
        conn.close()
        pg, detail = True, ""
    except Exception as exc:  # any driver error means: not reachable
        pg, detail = False, str(exc)
    require("PostgreSQL", pg, detail)
    try:
        rd = redis.Redis(host="127.0.0.1", socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError:
        rd = False
    require("Redis", bool(rd), "127.0.0.1:6379")


def shrunk_configs(folder: Path) -> Path:
    """The shipped configs, trained for two epochs and gated on 20 evaluation rows."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (REPO / "configs").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        for model in data.get("models", []):
            model["epochs"] = 2
        data.setdefault("gates", {})["min_eval_rows"] = 20
        (folder / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


@dataclass
class Stack:
    home: Path
    db_url: str
    api: Any
    timings: dict[str, float]
    env: dict[str, str] = field(default_factory=dict)

    def status(self) -> dict[str, Any]:
        from r2p.stack import status

        return status()


def processes_of(home: Path) -> list[psutil.Process]:
    """Every live process whose environment carries this home (what the stack started)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("R2P_HOME") == str(home):
                found.append(proc)
        except psutil.Error:
            continue
    return [p for p in found if p.pid != os.getpid()]


@contextmanager
def running_stack(
    tmp: Path,
    *,
    model: str | None = None,
    executor: str = "local",
    prepare: Any = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Bring a stack up in ``tmp`` (``prepare()`` runs first, in the stack's home) and always
    bring it down, drop its database and delete its Redis keys afterwards. ``extra_env`` is
    set last (e.g. an ``s3://`` storage root), for ``prepare`` and every program."""
    services_or_skip()
    from r2p.stack import StackConfig, client, down, up
    from r2p.stack.database import drop_database

    token = uuid.uuid4().hex[:10]
    home, db_url = tmp / "home", f"{PG}/r2p_it_{token}"
    prefix = f"r2p-it-{token}:"
    env = {
        "R2P_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "R2P_CONFIGS": str(shrunk_configs(tmp / "configs")),
        "R2P_FEAST_ONLINE_STORE": f"redis://127.0.0.1:6379/0?key_prefix={prefix}feast:",
        "R2P_STACK_CELERY_KEY_PREFIX": f"{prefix}celery:",
        "R2P_STACK_CELERY_QUEUE": f"r2p-it-{token}",
    }
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    for key in ("R2P_STORAGE", "R2P_LANDING", "R2P_STORAGE_CONN_ID", "R2P_SERVING"):
        mp.delenv(key, raising=False)
    for key, value in (extra_env or {}).items():
        mp.setenv(key, value)
    env.update(extra_env or {})
    cfg = StackConfig(
        db_url=db_url,
        api_port=free_port(),
        executor=executor,
        log_server_port=free_port(),
        trigger_log_port=free_port(),
        model=model,
        model_http_port=free_port(),
        model_grpc_port=free_port(),
    )
    try:
        if prepare is not None:
            prepare()
        started = time.monotonic()
        timings = up(cfg, timeout=300)
        timings["wall_seconds"] = time.monotonic() - started
        yield Stack(home, db_url, client(cfg), timings, env)
    finally:
        try:
            down()
        finally:
            drop_database(db_url)
            _drop_redis_keys(prefix)
            mp.undo()


def _drop_redis_keys(prefix: str) -> None:
    import redis

    r = redis.Redis(host="127.0.0.1", socket_connect_timeout=2, socket_timeout=5)
    keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        r.delete(*keys)


def wait_for(predicate: Any, timeout: float, what: str, every: float = 1.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def asset_triggered_runs(api: Any, dag_id: str) -> list[dict[str, Any]]:
    return api.runs(dag_id, run_type="asset_triggered")


def run_seconds(run: dict[str, Any]) -> float:
    """A finished run's wall time (start to end)."""
    start = dt.datetime.fromisoformat(run["start_date"])
    return (dt.datetime.fromisoformat(run["end_date"]) - start).total_seconds()


def assert_online_equals_partition(cfg: Any, day: dt.date, source: str = "profile") -> None:
    """Feast's online values (materialised by the data run) equal the committed partition of
    ``source`` for the first five entities."""
    from r2p.features.store import feature_store
    from r2p.ingest.offline import read_offline
    from tests.features.helpers import online

    key = cfg.dataset.entity.key
    rows = read_offline(cfg, source, day).to_pylist()
    ids = sorted(r[key] for r in rows)[:5]
    served = online(feature_store(), cfg, ids)
    by_id = {r[key]: r for r in rows}
    cols = [c.name for c in cfg.source(source).columns if c.name in served]
    assert cols
    for i, entity in enumerate(ids):
        for col in cols:
            assert served[col][i] == by_id[entity][col], (entity, col)


def log_tail(home: Path, dag_id: str, run_id: str) -> str:
    """The ends of a run's task logs, for an assertion message."""
    base = home / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    parts = [f"{p.parent.name}:\n{p.read_text()[-1500:]}" for p in sorted(base.rglob("*.log"))]
    return "\n".join(parts)[-6000:]
