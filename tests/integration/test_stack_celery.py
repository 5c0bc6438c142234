"""The stack with ``--executor celery``: Redis as broker (this stack's key prefix and queue),
PostgreSQL as result backend, a supervised ``airflow celery worker``; the data DAG's tasks
run on that worker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.integration.stack_helpers import Stack, log_tail, run_seconds, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)  # the scheduler's own next run


def _prepare() -> None:
    from r2p.config import load_pipeline
    from r2p.sample.landing import generate_days

    generate_days(load_pipeline("churn"), DAY, 1, entities=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("celery")
    with running_stack(tmp, executor="celery", prepare=_prepare) as s:
        yield s


@pytest.mark.timeout(900)
def test_data_dag_runs_on_the_celery_worker(stack: Stack) -> None:
    import redis

    from r2p import storage
    from r2p.stack import recorded_config

    cfg = recorded_config()
    assert cfg.executor == "celery"
    report = stack.status()
    assert report["programs"]["celery-worker"]["alive"]
    api = stack.api
    api.wait_dag("churn_data", 180)
    run_id = api.trigger_partition("churn_data", DAY)
    api.unpause("churn_data")
    run = api.wait_run("churn_data", run_id, 600)
    assert run["state"] == "success", log_tail(stack.home, "churn_data", run_id)
    print(f"\ndata run on Celery: {run_seconds(run):.0f} s")
    quoted = run_id.replace("+", "%2B").replace(":", "%3A")
    tis = api.call("GET", f"/dags/churn_data/dagRuns/{quoted}/taskInstances?limit=100")
    queue = stack.env["R2P_STACK_CELERY_QUEUE"]
    for ti in tis["task_instances"]:
        assert ti["state"] == "success", ti["task_id"]
        assert ti["queue"] == queue and ti["executor"] in (None, "CeleryExecutor"), ti
    assert storage.pointer(f"offline/churn/profile/ds={DAY}")
    worker_log = (stack.home / "stack" / "celery-worker.log").read_text()
    assert "execute_workload" in worker_log or "ExecuteTask" in worker_log, worker_log[-2000:]
    prefix = stack.env["R2P_STACK_CELERY_KEY_PREFIX"]
    r = redis.Redis(host="127.0.0.1", socket_connect_timeout=2, socket_timeout=5)
    assert list(r.scan_iter(match=f"{prefix}*", count=1000)), "broker keys carry the prefix"
