"""The data and training DAGs carry a DeadlineAlert whose callback pages on-call once."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from r2p.alerts.deadline import deadline_missed
from tests.alerts.conftest import text_of

pytestmark = pytest.mark.timeout(120)
RUN = "scheduled__2026-11-25T00:00:00+00:00"


@pytest.mark.parametrize(("kind", "hours"), [("data", 12.0), ("training", 4.0)])
def test_the_dags_carry_the_configured_deadline(churn, kind, hours) -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference

    from r2p.orchestration.factory import build_data_dag, build_training_dag

    dag = (build_data_dag if kind == "data" else build_training_dag)(churn)
    (alert,) = dag.deadline
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == dt.timedelta(hours=hours)
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "r2p.alerts.deadline.deadline_missed"
    assert alert.callback.kwargs == {"pipeline": "churn", "kind": kind, "hours": hours}


def test_the_deadline_comes_from_the_config(churn) -> None:
    from r2p.orchestration.factory import build_training_dag

    cfg = churn.model_copy(
        update={"alerts": churn.alerts.model_copy(
            update={"deadlines": churn.alerts.deadlines.model_copy(update={"training_hours": 1.5})}
        )}
    )  # fmt: skip
    (alert,) = build_training_dag(cfg).deadline
    assert alert.interval == dt.timedelta(hours=1.5)


def _context(run_id: str = RUN) -> dict:
    """What the scheduler hands the callback (airflow.models.deadline.Deadline.handle_miss)."""
    return {
        "dag_run": {"dag_id": "churn_training", "dag_run_id": run_id, "run_type": "scheduled",
                    "state": "running", "queued_at": "2026-11-25T00:00:03Z",
                    "start_date": "2026-11-25T00:00:05Z"},
        "deadline": {"id": "0197", "deadline_time": "2026-11-25T04:00:03+00:00"},
    }  # fmt: skip


def test_a_missed_deadline_pages_on_call_once_until_a_run_succeeds(churn, routes) -> None:
    asyncio.run(deadline_missed("churn", "training", context=_context()))
    (msg,) = routes.inbox("on_call")
    assert routes.others("on_call") == []
    assert msg["body"] == (
        f"[churn] Deadline missed: churn_training run {RUN} not finished 4 h after it was queued"
    )
    text = text_of(msg)
    for expected in (
        "type scheduled  state running",
        "queued 2026-11-25T00:00:03Z, started 2026-11-25T00:00:05Z",
        "deadline 2026-11-25T04:00:03+00:00",
        f"airflow tasks states-for-dag-run churn_training '{RUN}'",
        "docs/runbook.md#deadline-missed",
    ):
        assert expected in text, (expected, text)
    assert msg["connectColor"] == "#9B1B30"
    asyncio.run(deadline_missed("churn", "training", context=_context("scheduled__next")))
    assert len(routes.inbox("on_call")) == 1  # the next late run: deduplicated
    from r2p.alerts.run_end import resolve_open

    assert len(resolve_open(churn, "churn_training", "manual__ok")) == 1
    resolved = routes.inbox("on_call")[-1]
    assert resolved["body"].startswith("[churn] resolved: churn_training.deadline")


def test_a_broken_callback_never_raises_into_the_triggerer(home) -> None:
    asyncio.run(deadline_missed("no_such_pipeline", "data", context=_context()))


@pytest.mark.parametrize(
    ("hours", "text"), [(12.0, "12 h"), (1.5, "1.5 h"), (0.25, "15 min"), (5 / 3600, "5 s")]
)
def test_spans_read_naturally(hours, text) -> None:
    from r2p.alerts.deadline import span

    assert span(hours) == text
