"""What the production-shaped stack runs, and with which settings.

Every setting comes from a flag or the environment (``R2P_STACK_*``), with defaults for this
machine: Airflow on the PostgreSQL at 127.0.0.1:5432 with LocalExecutor; CeleryExecutor with
Redis as broker and PostgreSQL as result backend on request.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from r2p.home import REPO_ROOT, airflow_env, home
from r2p.orchestration.pools import POOLS
from r2p.supervisor import Program

EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
__all__ = ["POOLS", "StackConfig", "programs", "stack_env", "state_dir"]


def _env(name: str, default: str) -> str:
    return os.environ.get(f"R2P_STACK_{name}") or default


@dataclass
class StackConfig:
    """The stack's settings (flags override the ``R2P_STACK_*`` environment)."""

    db_url: str = field(
        default_factory=lambda: _env(
            "DB_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/r2p_airflow"
        )
    )
    api_port: int = field(default_factory=lambda: int(_env("API_PORT", "8080")))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    executor: str = field(default_factory=lambda: _env("EXECUTOR", "local"))
    parallelism: int = field(default_factory=lambda: int(_env("PARALLELISM", "4")))
    log_server_port: int = field(default_factory=lambda: int(_env("LOG_SERVER_PORT", "8793")))
    trigger_log_port: int = field(default_factory=lambda: int(_env("TRIGGER_LOG_PORT", "8794")))
    broker_url: str = field(default_factory=lambda: _env("BROKER_URL", "redis://127.0.0.1:6379/0"))
    celery_queue: str = field(default_factory=lambda: _env("CELERY_QUEUE", "default"))
    celery_concurrency: int = field(default_factory=lambda: int(_env("CELERY_CONCURRENCY", "2")))
    model: str | None = field(default_factory=lambda: os.environ.get("R2P_STACK_MODEL") or None)
    model_http_port: int = field(default_factory=lambda: int(_env("MODEL_HTTP_PORT", "8501")))
    model_grpc_port: int = field(default_factory=lambda: int(_env("MODEL_GRPC_PORT", "8500")))
    username: str = "r2p"

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {sorted(EXECUTORS)}, got {self.executor!r}")

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def result_backend(self) -> str:
        """Celery's result backend: the metadata database, through SQLAlchemy (``db+``)."""
        url = self.db_url.replace("postgresql+psycopg2://", "postgresql://", 1)
        return _env("RESULT_BACKEND", f"db+{url}")


def state_dir() -> Path:
    """Where the stack keeps its supervisor state, secrets and every program's log."""
    path = home() / "stack"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secrets(state: Path, username: str) -> dict[str, str]:
    """Secrets shared by every component (generated once per home, mode 0600)."""
    path = state / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {"secret_key": secrets.token_urlsafe(32), "jwt_secret": secrets.token_urlsafe(32)}
    values["password"] = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out)
    passwords = state / "passwords.json"
    fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({username: values["password"]}, out)
    return values


def password(cfg: StackConfig) -> str:
    """The REST password of ``cfg.username`` (admin role in the simple auth manager)."""
    return _secrets(state_dir(), cfg.username)["password"]


def stack_env(cfg: StackConfig, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow component of the stack gets."""
    state = state_dir()
    secret = _secrets(state, cfg.username)
    env = airflow_env(base)
    env.update(
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=cfg.db_url,
        AIRFLOW__CORE__EXECUTOR=EXECUTORS[cfg.executor],
        AIRFLOW__CORE__PARALLELISM=str(cfg.parallelism),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{cfg.api_url}/execution/",
        AIRFLOW__API__HOST=cfg.host,
        AIRFLOW__API__PORT=str(cfg.api_port),
        AIRFLOW__API__BASE_URL=cfg.api_url,
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__SECRET_KEY=secret["secret_key"],
        AIRFLOW__API_AUTH__JWT_SECRET=secret["jwt_secret"],
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{cfg.username}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(state / "passwords.json"),
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(cfg.log_server_port),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(cfg.trigger_log_port),
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30",
        PYTHONUNBUFFERED="1",
        # setproctitle must not overwrite the environment block: /proc/<pid>/environ is how
        # `down` and the tests recognise what this stack started.
        SPT_NOENV="1",
    )
    if cfg.executor == "celery":
        env.update(
            AIRFLOW__CELERY__BROKER_URL=cfg.broker_url,
            AIRFLOW__CELERY__RESULT_BACKEND=cfg.result_backend,
            AIRFLOW__OPERATORS__DEFAULT_QUEUE=cfg.celery_queue,
            AIRFLOW__CELERY__WORKER_CONCURRENCY=str(cfg.celery_concurrency),
        )
        prefix = os.environ.get("R2P_STACK_CELERY_KEY_PREFIX")
        if prefix:  # Redis keys of this stack only (tests share one Redis)
            env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX"] = prefix
    return env


def airflow_bin() -> str:
    """The ``airflow`` command of this interpreter's environment."""
    return str(Path(sys.executable).parent / "airflow")


def programs(cfg: StackConfig, env: dict[str, str]) -> list[Program]:
    """The supervised programs: api-server, scheduler, dag-processor, triggerer (+ worker,
    + model server)."""
    af = airflow_bin()
    # The executor's workers fork from the scheduler (LocalExecutor) or the Celery worker: with
    # the data stages' libraries imported there first, no task pays for importing them.
    preloaded = [sys.executable, "-m", "r2p.orchestration.preload"]
    api = [af, "api-server", "--host", cfg.host, "--port", str(cfg.api_port), "--workers", "1"]
    out = [
        Program("api-server", api, env=env, cwd=str(REPO_ROOT)),
        Program(
            "scheduler", [*preloaded, "scheduler"], env=env, cwd=str(REPO_ROOT), grace_seconds=30
        ),
        Program("dag-processor", [af, "dag-processor"], env=env, cwd=str(REPO_ROOT)),
        Program("triggerer", [af, "triggerer"], env=env, cwd=str(REPO_ROOT)),
    ]
    if cfg.executor == "celery":
        worker = [*preloaded, "celery", "worker", "--queues", cfg.celery_queue]
        worker += ["--concurrency", str(cfg.celery_concurrency)]
        out.append(Program("celery-worker", worker, env=env, cwd=str(REPO_ROOT), grace_seconds=30))
    if cfg.model:
        serve = [sys.executable, "-m", "r2p.serving", "--model", cfg.model]
        serve += ["--http-port", str(cfg.model_http_port), "--grpc-port", str(cfg.model_grpc_port)]
        out.append(Program("model-server", serve, env=env, cwd=str(REPO_ROOT)))
    return out
