"""The alerts no task callback can send, under a real scheduler (``r2p stack up``: api-server,
scheduler, dag-processor and triggerer on PostgreSQL, LocalExecutor; the routes are
connections to a local Jandi stand-in):

- ``kill -9``: a task whose process is SIGKILLed on every try (no failure callback runs)
  pages on-call exactly once, after its last try; a task failing with an exception pages once
  through its own callback, and the run-end check does not double it;
- a run still going past its ``DeadlineAlert`` pages on-call once (from the triggerer).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest

from tests.alerts.conftest import ROUTES, Routes, text_of
from tests.integration.stack_helpers import Stack, log_tail, running_stack, wait_for
from tests.plugins.jandi_server import JandiServer, new_token

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
KILL_DAG = "churn_killtest"
LATE_DAG = "churn_training"  # the deadline callback names <pipeline>_<kind>

HEADER = """
import datetime as dt
import os
import signal
import time

from airflow.sdk import DAG, task

from r2p.config import load_pipeline
from r2p.orchestration.factory import _last, _notify_task, deadline, default_args

cfg = load_pipeline("churn")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""

KILL_FILE = HEADER + textwrap.dedent(
    f'''
    with DAG(
        dag_id="{KILL_DAG}", schedule=None, start_date=START, catchup=False, tags=["test"],
        default_args=default_args(cfg, retries=1, retry_delay=dt.timedelta(seconds=1),
                                  retry_exponential_backoff=0),
    ) as dag:

        @task
        def killed() -> None:
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does

        @task
        def refused() -> None:
            raise ConnectionError("connection refused by the feature store")

        [killed(), refused()]
        _notify_task("churn", "data")
        _last(dag)
    '''
)

LATE_FILE = HEADER + textwrap.dedent(
    f'''
    deadlines = cfg.alerts.deadlines.model_copy(update={{"training_hours": 5 / 3600}})
    alerts = cfg.alerts.model_copy(update={{"deadlines": deadlines}})
    cfg = cfg.model_copy(update={{"alerts": alerts}})
    with DAG(
        dag_id="{LATE_DAG}", schedule=None, start_date=START, catchup=False, tags=["test"],
        default_args=default_args(cfg, retries=0), deadline=deadline(cfg, "training"),
    ) as dag:

        @task
        def slow() -> None:
            time.sleep(45)

        slow()
    '''
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Routes]]:
    tmp = tmp_path_factory.mktemp("alerts-stack")
    dags = tmp / "dags"
    dags.mkdir()
    (dags / "killtest.py").write_text(KILL_FILE)
    (dags / "latetest.py").write_text(LATE_FILE)
    server, mp = JandiServer(), pytest.MonkeyPatch()
    tokens = {route: new_token() for route in ROUTES}
    from r2p.config.schema import Alerts

    for route, token in tokens.items():  # before the stack starts: its processes inherit them
        conn = f'{{"conn_type": "http", "host": "{server.url(token)}"}}'
        mp.setenv(f"AIRFLOW_CONN_{getattr(Alerts(), route).upper()}", conn)
    mp.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    try:
        with running_stack(tmp / "stack") as s:
            yield s, Routes(server, tokens)
    finally:
        mp.undo()
        server.stop()


def test_a_sigkilled_task_pages_on_call_once_after_its_last_try(stack) -> None:
    s, routes = stack
    s.api.wait_dag(KILL_DAG, timeout=180)
    s.api.unpause(KILL_DAG)
    run_id = s.api.trigger(KILL_DAG, None)
    run = s.api.wait_run(KILL_DAG, run_id, timeout=400)
    states = s.api.task_states(KILL_DAG, run_id)
    assert run["state"] == "failed", states
    assert states == {"killed": "failed", "refused": "failed", "notify": "failed"}, states
    msgs = [m for m in routes.inbox("on_call") if KILL_DAG in m["body"]]
    bodies = sorted(m["body"] for m in msgs)
    assert bodies == [
        f"[churn] Task failed: {KILL_DAG}.refused failed",
        f"[churn] Task killed or heartbeat lost: {KILL_DAG}.killed failed without reporting an "
        "error (try 2)",
    ], (bodies, log_tail(s.home, KILL_DAG, run_id))
    killed = next(m for m in msgs if "killed failed" in m["body"])
    text = text_of(killed)
    assert f"run {run_id}  try 2  host " in text and "pid " in text
    assert "ended without running its failure handler" in text  # found by the run-end task
    assert "docs/runbook.md#task-killed" in text and "-t '^killed$'" in text
    assert "try 2" in text_of(next(m for m in msgs if "refused" in m["body"]))
    assert routes.others("on_call") == []


def test_a_missed_deadline_pages_on_call_from_the_triggerer(stack) -> None:
    s, routes = stack
    s.api.wait_dag(LATE_DAG, timeout=180)
    s.api.unpause(LATE_DAG)
    run_id = s.api.trigger(LATE_DAG, None)

    def deadline_messages() -> list[dict]:
        return [m for m in routes.inbox("on_call") if "Deadline missed" in m["body"]]

    (msg,) = wait_for(deadline_messages, 90, "the deadline message", every=2)
    assert msg["body"] == (
        f"[churn] Deadline missed: {LATE_DAG} run {run_id} not finished 5 s after it was queued"
    )
    text = text_of(msg)
    assert "state running" in text and "docs/runbook.md#deadline-missed" in text
    run = s.api.wait_run(LATE_DAG, run_id, timeout=120)
    assert run["state"] == "success" and len(deadline_messages()) == 1
    assert routes.others("on_call") == []


def test_readiness_on_the_stack(stack) -> None:
    """``r2p ready`` with the stack's environment: its database, a healthy scheduler from the
    api-server's health endpoint, and the DAG folder without import errors."""
    from r2p.stack import stack_env
    from r2p.stack.commands import recorded_config
    from tests.conftest import run_cli

    env = stack_env(recorded_config())
    done = run_cli(
        "ready", "--item", "database", "--item", "scheduler", "--item", "dag_imports", env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(line.split(None, 2)[1:] for line in done.stdout.splitlines()[:-1])
    assert lines["database"].startswith("postgresql")
    assert "healthy, last heartbeat" in lines["scheduler"]
    assert "no import errors" in lines["dag_imports"] and done.stdout.endswith("ready\n")
