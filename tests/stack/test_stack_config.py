"""The stack's settings, environment and program list (no services needed)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from r2p.stack import StackConfig, format_status, stack_env, state_dir
from r2p.stack.config import programs


def test_every_component_shares_the_database_secrets_and_execution_api(home: Path) -> None:
    cfg = StackConfig(db_url="postgresql+psycopg2://postgres@127.0.0.1:5432/x", api_port=18123)
    env = stack_env(cfg)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == cfg.db_url
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18123/execution/"
    again = stack_env(cfg)
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert env[key] == again[key] and len(env[key]) > 30  # generated once per home
    for name in ("secrets.json", "passwords.json"):
        assert stat.S_IMODE((state_dir() / name).stat().st_mode) == 0o600
    assert "AIRFLOW__CELERY__BROKER_URL" not in env
    assert state_dir() == home / "stack"


def test_celery_and_model_server_add_their_programs(home: Path) -> None:
    local = StackConfig(db_url="postgresql+psycopg2://postgres@h:5432/x")
    names = [p.name for p in programs(local, stack_env(local))]
    assert names == ["api-server", "scheduler", "dag-processor", "triggerer"]
    cfg = StackConfig(
        db_url="postgresql+psycopg2://postgres@h:5432/x", executor="celery", model="churn"
    )
    env = stack_env(cfg)
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://postgres@h:5432/x"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    progs = {p.name: p for p in programs(cfg, env)}
    assert list(progs)[-2:] == ["celery-worker", "model-server"]
    assert progs["model-server"].argv[1:5] == ["-m", "r2p.serving", "--model", "churn"]
    with pytest.raises(ValueError, match="executor"):
        StackConfig(executor="kubernetes")


def test_status_of_a_stack_that_is_not_running(home: Path, cli) -> None:
    done = cli("stack", "status", env={"R2P_HOME": str(home)})
    assert done.returncode == 3 and "not running" in done.stdout
    text = format_status(
        {
            "supervisor": 42,
            "api_url": "http://h:1",
            "programs": {},
            "health": {"scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "t"}},
        }
    )
    assert "pid 42" in text and "scheduler     healthy  (t)" in text
