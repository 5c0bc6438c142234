"""``r2p stack up|down|status``: the production-shaped Airflow, supervised, on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict
from typing import Any

from r2p import supervisor
from r2p.stack.api import AirflowApi, health, healthy
from r2p.stack.config import POOLS, StackConfig, airflow_bin, password, programs, stack_env
from r2p.stack.config import state_dir as _state_dir
from r2p.stack.database import ensure_database, is_postgres

COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class StackError(RuntimeError):
    """The stack could not be brought up (what failed, and the log to read)."""


def _migrate(env: dict[str, str]) -> None:
    log = _state_dir() / "db-migrate.log"
    with log.open("w") as out:
        done = subprocess.run(
            [airflow_bin(), "db", "migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
    if done.returncode != 0:
        raise StackError(f"airflow db migrate failed (exit {done.returncode}); see {log}")


def _wait_healthy(cfg: StackConfig, timeout: float) -> dict[str, Any]:
    deadline, answer = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        answer = health(cfg.api_url)
        if healthy(answer, COMPONENTS):
            return answer or {}
        time.sleep(1.0)
    raise StackError(f"not healthy after {timeout:.0f} s: {json.dumps(answer)}")


def client(cfg: StackConfig | None = None) -> AirflowApi:
    """A REST client of the running stack (settings from the stack's own record)."""
    cfg = cfg or recorded_config()
    return AirflowApi(cfg.api_url, cfg.username, password(cfg))


def recorded_config() -> StackConfig:
    """The settings the running (or last) stack was started with."""
    path = _state_dir() / "stack.json"
    if not path.exists():
        return StackConfig()
    return StackConfig(**json.loads(path.read_text()))


def up(cfg: StackConfig, timeout: float = 240.0) -> dict[str, float]:
    """Create the database if missing, migrate it, start every program supervised, wait until
    the health endpoint says all healthy and create the pools. Seconds per step."""
    state = _state_dir()
    if supervisor.supervisor_pid(state):
        raise StackError(f"the stack already runs (supervisor in {state}); `r2p stack down`")
    env = stack_env(cfg)
    timings, started = {}, time.monotonic()
    if is_postgres(cfg.db_url):
        ensure_database(cfg.db_url)
    _migrate(env)
    timings["migrate_seconds"] = time.monotonic() - started
    (state / "stack.json").write_text(json.dumps(asdict(cfg), indent=2))
    supervisor.start(state, programs(cfg, env))
    try:
        _wait_healthy(cfg, timeout)
        api = client(cfg)
        for name, description in POOLS.items():
            api.set_pool(name, 1, description)
    except BaseException:
        supervisor.stop(state)
        raise
    timings["up_seconds"] = time.monotonic() - started
    return timings


def down(timeout: float = 90.0) -> list[str]:
    """Stop every program by its own PID (the supervisor first); names killed as leftovers."""
    return supervisor.stop(_state_dir(), timeout=timeout)


def status() -> dict[str, Any]:
    """The supervisor's view of each program plus the api-server's health answer."""
    cfg = recorded_config()
    report = supervisor.status(_state_dir())
    report["api_url"] = cfg.api_url
    report["health"] = health(cfg.api_url) if report["supervisor"] else None
    return report


def format_status(report: dict[str, Any]) -> str:
    """A table of programs and one line per health component."""
    sup = report["supervisor"]
    lines = [f"supervisor  {'pid ' + str(sup) if sup else 'not running'}  api {report['api_url']}"]
    lines.append(f"{'program':<15}{'state':<10}{'pid':>8}{'uptime':>10}{'restarts':>10}  last exit")
    for name, p in report["programs"].items():
        uptime = f"{p['uptime_seconds']:.0f}s" if p["uptime_seconds"] is not None else "-"
        last = "-" if p["last_exit"] is None else str(p["last_exit"])
        pid = str(p["pid"]) if p["alive"] else "-"
        lines.append(f"{name:<15}{p['state']:<10}{pid:>8}{uptime:>10}{p['restarts']:>10}  {last}")
    for component, value in (report.get("health") or {}).items():
        beat = (
            value.get("latest_scheduler_heartbeat")
            or value.get("latest_triggerer_heartbeat")
            or value.get("latest_dag_processor_heartbeat")
        )
        lines.append(
            f"health {component:<14}{value.get('status')}" + (f"  ({beat})" if beat else "")
        )
    return "\n".join(lines)
