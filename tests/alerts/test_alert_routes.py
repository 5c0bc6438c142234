"""Every outcome `airflow dags test` can produce reaches its route, and only there, once:
the routes are Airflow connections pointing at a real local HTTP server standing in for Jandi
(it checks method, headers and JSON shape)."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from r2p import storage
from r2p.orchestration.dagtest import run_dag_test, run_dag_tests
from r2p.sample.landing import Defect, generate_days
from tests.alerts.conftest import text_of

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 16)


def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, **changes) -> None:
    """Point R2P_CONFIGS at a copy of configs/ with ``changes`` merged into ``name``'s YAML."""
    folder = tmp_path / "configs"
    if not folder.exists():
        shutil.copytree(REPO / "configs", folder)
    data = yaml.safe_load((folder / f"{name}.yaml").read_text())
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("R2P_CONFIGS", str(folder))


def test_batch_defect_alerts_data_engineering_once_then_resolved(churn, routes) -> None:
    generate_days(churn, DAY, 1, entities=40, inject=[Defect("missing_column", "profile", DAY)])
    first = run_dag_test("churn_data", DAY)
    assert not first.ok and first.task_states["ingest_profile"][0] == "failed"
    assert first.task_states["notify"][0] == "failed"  # the run stays failed, no 2nd alert
    (msg,) = routes.inbox("data_engineering")
    assert routes.others("data_engineering") == []  # a refused batch does not page on-call
    text = text_of(msg)
    assert msg["body"].startswith("[churn] Batch refused: churn_data.ingest_profile failed")
    assert msg["connectColor"] == "#EB5757"
    for expected in (
        f"run {first.run_id}",
        "try 1",
        "BatchRejected: ",
        "missing column",
        "Where: r2p/ingest/",
        "quarantine file://",
        "files ",
        "airflow tasks clear churn_data -t '^ingest_profile$' -s 2026-11-17T00:00:00+00:00",
        "docs/runbook.md#batch-defect",
        "Log: http",
    ):
        assert expected in text, (expected, text)
    second = run_dag_test("churn_data", DAY)  # the same problem again: deduplicated
    assert not second.ok and len(routes.inbox("data_engineering")) == 1
    generate_days(churn, DAY, 1, entities=40)  # the producer redelivers a clean partition
    third = run_dag_test("churn_data", DAY)
    assert third.ok, third.log_file.read_text()[-3000:]
    assert third.task_states["notify"][0] == "success"
    msgs = routes.inbox("data_engineering")
    assert len(msgs) == 2 and msgs[1]["body"].startswith("[churn] resolved: churn_data.ingest_")
    assert "1 more failures after the alert" in text_of(msgs[1])
    assert f"run {third.run_id} of churn_data succeeded" in text_of(msgs[1])
    assert routes.others("data_engineering") == []
    for run in (first, second, third):  # the webhook secret is in no task log
        log = run.log_file.read_text()
        assert all(token not in log for token in routes.tokens.values())


def test_row_defects_within_the_fraction_are_info_for_data_engineering(
    churn, routes, tmp_path, monkeypatch
) -> None:
    configs(tmp_path, monkeypatch, "churn", landing__max_bad_row_fraction=0.05)
    generate_days(churn, DAY, 1, entities=60, inject=[Defect("null_entity", "profile", DAY)])
    run = run_dag_test("churn_data", DAY)
    assert run.ok, run.log_file.read_text()[-3000:]
    (msg,) = routes.inbox("data_engineering")
    assert msg["body"].startswith("[churn] rows quarantined within the allowed fraction")
    assert msg["connectColor"] == "#2D9CDB"  # info
    assert "profile ds=2026-11-16: 1 of 60 rows quarantined" in text_of(msg)
    assert "quarantine file://" in text_of(msg) and routes.others("data_engineering") == []


def test_failed_expectations_alert_data_engineering(churn, routes, tmp_path, monkeypatch) -> None:
    impossible = {"type": "expect_table_row_count_to_be_between", "source": "profile",
                  "kwargs": {"min_value": 1_000_000}}  # fmt: skip
    configs(tmp_path, monkeypatch, "churn", expectations=[impossible])
    generate_days(churn, DAY, 1, entities=40)
    run = run_dag_test("churn_data", DAY)
    assert run.task_states["validate"][0] == "failed"
    (msg,) = routes.inbox("data_engineering")
    assert msg["body"].startswith("[churn] Validation failed: churn_data.validate failed")
    assert "expect_table_row_count_to_be_between" in text_of(msg)
    assert "docs/runbook.md#gx-failed" in text_of(msg) and routes.others("data_engineering") == []


def test_late_landing_alerts_data_engineering(churn, routes) -> None:
    generate_days(churn, DAY, 1, entities=40)
    labels = storage.path(f"file://{Path(storage.root().path)}/landing/churn/churn_labels")
    shutil.rmtree(labels.path)  # the labels never arrived; the deadline is long past
    run = run_dag_test("churn_data", DAY)
    assert run.task_states["wait_churn_labels"][0] == "failed"
    (msg,) = routes.inbox("data_engineering")
    assert msg["body"].startswith("[churn] Landing data late: churn_data.wait_churn_labels")
    assert "LandingLate" in text_of(msg) and "docs/runbook.md#late-data" in text_of(msg)
    assert routes.others("data_engineering") == []


def test_transient_errors_page_on_call_once_after_the_last_try(
    churn, routes, connect, tmp_path, monkeypatch
) -> None:
    configs(tmp_path, monkeypatch, "churn", tasks__retries=1, tasks__retry_delay_seconds=1)
    with socket.socket() as s:  # a closed port: every S3 call is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_R2P_DOWN",
        '{"conn_type": "aws", "login": "x", "password": "x", "extra": {"endpoint_url": '
        f'"http://127.0.0.1:{port}", "region_name": "us-east-1", "config_kwargs": '
        '{"connect_timeout": 1, "read_timeout": 1, "retries": {"max_attempts": 1}}}}',
    )
    monkeypatch.setenv("R2P_LANDING", "s3://r2p_down@landing/zone")
    run = run_dag_test("churn_data", DAY)
    failed = {t: tries for t, (state, tries) in run.task_states.items() if state == "failed"}
    waits = {f"wait_{s}" for s in churn.source_names}
    assert waits <= set(failed), run.task_states
    assert all(failed[t] == 2 for t in waits), failed  # retried once, then failed
    msgs = routes.inbox("on_call")
    assert len(msgs) == len(waits), [m["body"] for m in msgs]  # one per task: final try only
    assert {m["body"].split(": ", 1)[1] for m in msgs} == {f"churn_data.{t} failed" for t in waits}
    assert all("try 2" in text_of(m) and m["connectColor"] == "#9B1B30" for m in msgs)
    assert routes.others("on_call") == []
    log = run.log_file.read_text()
    assert all(token not in log for token in routes.tokens.values())


def test_a_dead_webhook_never_fails_a_task_nor_leaks_its_url(churn, connect, tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = "tokdeadbeefdeadbeefdeadbeefdeadbeef"
    connect(churn.alerts.data_engineering, f"http://127.0.0.1:{port}/webhook/{secret}")
    generate_days(churn, DAY, 1, entities=40, inject=[Defect("missing_column", "profile", DAY)])
    run = run_dag_test("churn_data", DAY)
    log = run.log_file.read_text()
    assert run.task_states["ingest_profile"][0] == "failed"  # failed for its own reason ...
    assert "BatchRejected" in log and "not delivered" in log  # ... and the alert was refused
    assert secret not in log and f":{port}/webhook" not in log


def test_freshness_alerts_once_and_resolves(churn, routes) -> None:
    generate_days(churn, DAY, 2, entities=30)
    assert run_dag_test("churn_data", DAY).ok
    later = DAY + dt.timedelta(days=5)
    stale = run_dag_test("r2p_freshness", later)
    assert stale.ok, stale.log_file.read_text()[-3000:]
    churn_msgs = lambda: [m for m in routes.inbox("data_engineering") if "[churn]" in m["body"]]  # noqa: E731
    msgs = churn_msgs()
    assert len(routes.inbox("data_engineering")) > 3  # fleet never loaded: stale too
    subjects = sorted(m["body"].split("Data stale: ")[1].split(":")[0] for m in msgs)
    assert subjects == ["labels churn_labels", "source activity", "source profile"]
    assert all("newest 2026-11-16" in m["body"] for m in msgs)
    assert routes.others("data_engineering") == []
    again = run_dag_test("r2p_freshness", later)  # checked again: nothing new to say
    assert again.ok and len(churn_msgs()) == 3  # once, not hourly
    assert run_dag_tests("churn_data", [DAY + dt.timedelta(days=1)])[0].ok
    # fresh again relative to the next check: the day after the newest partition
    fresh = run_dag_test("r2p_freshness", DAY + dt.timedelta(days=1))
    assert fresh.ok
    resolved = [m for m in churn_msgs() if "resolved" in m["body"]]
    assert len(resolved) == 3 and all("is fresh again (2026-11-17)" in m["body"] for m in resolved)
