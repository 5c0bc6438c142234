"""The stack with ``--executor celery``: Redis as broker (this stack's key prefix and queue),
PostgreSQL as result backend, a supervised ``airflow celery worker``; the data DAG's tasks
run on that worker, with the storage root (landing, offline partitions, Feast's sources) on
``s3://`` against moto in server mode."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.stack_helpers import (
    Stack,
    assert_online_equals_partition,
    log_tail,
    processes_of,
    run_seconds,
    running_stack,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)  # the scheduler's own next run


def _prepare() -> None:
    from r2p.config import load_pipeline
    from r2p.sample.landing import generate_days

    generate_days(load_pipeline("churn"), DAY, 1, entities=60)


@pytest.fixture(scope="module")
def bucket(moto_s3: dict[str, str]) -> dict[str, Any]:
    """This module's prefix in the moto bucket, and a boto3 client on the moto endpoint."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_s3["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return {**moto_s3, "prefix": f"celery-{time.time_ns()}", "client": client}


def keys(bucket: dict[str, Any], under: str = "") -> list[str]:
    """Every object key in the moto bucket under the module's prefix, relative to it."""
    pages = bucket["client"].get_paginator("list_objects_v2")
    start = f"{bucket['prefix']}/{under}"
    found = []
    for page in pages.paginate(Bucket=bucket["bucket"], Prefix=start):
        found += [o["Key"].removeprefix(f"{bucket['prefix']}/") for o in page.get("Contents", [])]
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, bucket: dict[str, Any]) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("celery")
    s3 = {
        "R2P_STORAGE": f"s3://{bucket['bucket']}/{bucket['prefix']}",
        "R2P_STORAGE_CONN_ID": bucket["conn_id"],
    }
    with running_stack(tmp, executor="celery", prepare=_prepare, extra_env=s3) as s:
        yield s


@pytest.mark.timeout(900)
def test_data_dag_runs_on_the_celery_worker(stack: Stack, bucket: dict[str, Any]) -> None:
    import redis

    from r2p import storage
    from r2p.config import load_pipeline
    from r2p.stack import recorded_config

    cfg = recorded_config()
    assert cfg.executor == "celery"
    report = stack.status()
    assert report["programs"]["celery-worker"]["alive"]
    workers = [p for p in processes_of(stack.home) if "celery" in " ".join(p.cmdline())]
    assert workers, "the celery worker runs with the stack's home"
    for proc in workers:  # the worker got the s3:// storage root and its connection
        env = proc.environ()
        assert env.get("R2P_STORAGE") == stack.env["R2P_STORAGE"], proc.cmdline()
        assert env.get("R2P_STORAGE_CONN_ID") == bucket["conn_id"]
        assert "AIRFLOW_CONN_R2P_S3" in env and "R2P_LANDING" not in env
    assert keys(bucket, "landing/"), "the landing data was written to the bucket"
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
    pipeline = load_pipeline("churn")
    stored = keys(bucket)
    for source in pipeline.source_names:  # partitions and pointers are in the moto bucket
        name = f"offline/churn/{source}/ds={DAY}"
        assert f"{name}/{storage.POINTER}" in stored, (name, stored)
        ptr = storage.pointer(name)
        assert ptr["uri"].startswith(f"s3://{bucket['conn_id']}@{bucket['bucket']}/"), ptr
        version = f"{name}/{storage.VERSIONS}/{ptr['version']}/data.parquet"
        assert version in stored, (version, stored)
        assert f"feast/churn/{source}/{DAY}.parquet" in stored  # Feast's source on S3 too
    assert f"validation/churn/ds={DAY}/{storage.POINTER}" in stored
    assert storage.pointer(f"validation/churn/ds={DAY}")["success"] is True
    local = stack.home / "storage"  # nothing went to the home's storage folder
    assert not local.exists() or not any(p.is_file() for p in local.rglob("*")), local
    print(f"{len(stored)} objects in the bucket under {bucket['prefix']}/")

    # online values (Feast on Redis, materialised on the worker from S3) equal the partition
    assert_online_equals_partition(pipeline, DAY)
    worker_log = (stack.home / "stack" / "celery-worker.log").read_text()
    assert "execute_workload" in worker_log or "ExecuteTask" in worker_log, worker_log[-2000:]
    prefix = stack.env["R2P_STACK_CELERY_KEY_PREFIX"]
    r = redis.Redis(host="127.0.0.1", socket_connect_timeout=2, socket_timeout=5)
    assert list(r.scan_iter(match=f"{prefix}*", count=1000)), "broker keys carry the prefix"
