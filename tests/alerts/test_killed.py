"""A task that dies without reporting pages on-call exactly once, after its last try; a
heartbeat-timeout callback while retries remain stays silent (no Airflow services needed:
the contexts are what Airflow hands the callbacks)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from r2p.alerts import killed
from r2p.alerts.failure import FailureNotifier
from tests.alerts.conftest import text_of

pytestmark = pytest.mark.timeout(120)
RUN = "scheduled__2026-11-24T00:00:00+00:00"
WHEN = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)


def _ti(task: str = "ingest_profile", tries: int = 1, max_tries: int = 0, **kw) -> SimpleNamespace:
    return SimpleNamespace(dag_id="churn_data", task_id=task, run_id=RUN, try_number=tries,
                           max_tries=max_tries, hostname="worker-7",
                           log_url=f"http://airflow:8080/log/{task}?try={tries}", **kw)  # fmt: skip


def _ctx(ti: SimpleNamespace, **extra) -> dict:
    return {"ti": ti, "logical_date": WHEN, **extra}


@pytest.mark.parametrize(
    ("states", "handled", "expected"),
    [
        pytest.param({"a": "failed", "b": "success"}, {}, ["a"], id="failed-unhandled"),
        pytest.param({"a": "failed"}, {"a": True}, [], id="callback-ran"),
        pytest.param({"a": "upstream_failed", "b": "skipped"}, {}, [], id="never-ran"),
        pytest.param({"a": "failed", "b": "failed"}, {"b": True}, ["a"], id="one-of-two"),
    ],
)
def test_the_run_end_decides_which_failures_went_unreported(states, handled, expected) -> None:
    assert killed.unreported(states, handled) == expected


@pytest.mark.parametrize(
    ("context", "final"),
    [
        pytest.param(_ctx(_ti(tries=1, max_tries=3), exception=OSError("x")), True,
                     id="task-process-gave-up"),
        pytest.param(_ctx(_ti(tries=1, max_tries=3)), False, id="heartbeat-retries-remain"),
        pytest.param(_ctx(_ti(tries=3, max_tries=3)), False, id="heartbeat-one-retry-left"),
        pytest.param(_ctx(_ti(tries=4, max_tries=3)), True, id="heartbeat-last-try"),
        pytest.param(_ctx(_ti(tries=1, max_tries=0)), True, id="heartbeat-no-retries"),
    ],
)  # fmt: skip
def test_is_final_try(context, final) -> None:
    assert killed.is_final_try(context) is final


def test_a_silent_kill_pages_once_from_the_run_end(churn, routes) -> None:
    ti = _ti("ingest_profile", tries=4, max_tries=3)
    killed.record_attempt(_ctx(ti))
    notify = _ti("notify")
    states = {"ingest_profile": "failed", "validate": "upstream_failed", "wait_profile": "success"}
    assert killed.alert_unreported(churn, _ctx(notify), states) == {"ingest_profile": "sent"}
    (msg,) = routes.inbox("on_call")
    assert routes.others("on_call") == []
    text = text_of(msg)
    assert msg["body"] == (
        "[churn] Task killed or heartbeat lost: churn_data.ingest_profile failed without "
        "reporting an error (try 4)"
    )
    for expected in (
        f"run {RUN}  try 4  host worker-7  pid ",
        "killed (SIGKILL, out of memory)",
        "Log: http://airflow:8080/log/ingest_profile?try=4",
        "airflow tasks clear churn_data -t '^ingest_profile$' -s 2026-11-24T00:00:00+00:00",
        "docs/runbook.md#task-killed",
    ):
        assert expected in text, (expected, text)
    assert msg["connectColor"] == "#9B1B30"
    # notify cleared and run again: handled already, nothing more
    assert killed.alert_unreported(churn, _ctx(notify), states) == {}
    assert len(routes.inbox("on_call")) == 1


def test_a_callback_that_ran_is_not_doubled_by_the_run_end(churn, routes) -> None:
    ti = _ti("validate", tries=1, max_tries=0)
    killed.record_attempt(_ctx(ti))
    try:
        raise ConnectionError("database went away")
    except ConnectionError as exc:
        FailureNotifier("churn").notify(_ctx(ti, exception=exc))
    (msg,) = routes.inbox("on_call")
    assert msg["body"].startswith("[churn] Task failed: churn_data.validate failed")
    assert killed.alert_unreported(churn, _ctx(_ti("notify")), {"validate": "failed"}) == {}
    assert len(routes.inbox("on_call")) == 1


def test_heartbeat_timeout_callbacks_page_only_on_the_last_try(churn, routes) -> None:
    notifier = FailureNotifier("churn")
    for tries in (1, 2, 3):  # apache/airflow#65400: on_failure_callback while retries remain
        ti = _ti("retrain", tries=tries, max_tries=3)
        killed.record_attempt(_ctx(ti))
        notifier.notify(_ctx(ti))
    assert routes.server.requests == []
    last = _ti("retrain", tries=4, max_tries=3)
    killed.record_attempt(_ctx(last))
    notifier.notify(_ctx(last))
    (msg,) = routes.inbox("on_call")
    assert msg["body"].startswith("[churn] Task killed or heartbeat lost: churn_data.retrain")
    assert "heartbeat lost" in text_of(msg) and "try 4" in text_of(msg)
    # the run-end sees the try handled; the same problem on another run is deduplicated
    assert killed.alert_unreported(churn, _ctx(_ti("notify")), {"retrain": "failed"}) == {}
    other = _ti("retrain", tries=4, max_tries=3)
    other.run_id = "scheduled__2026-11-25T00:00:00+00:00"
    killed.record_attempt(_ctx(other))
    status = killed.alert_unreported(
        churn, _ctx(SimpleNamespace(**{**vars(other), "task_id": "notify"})), {"retrain": "failed"}
    )
    assert status == {"retrain": "suppressed"} and len(routes.inbox("on_call")) == 1
