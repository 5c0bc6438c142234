"""What a training run knows about its trigger: window, run types, backfill provenance."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from r2p.errors import IntervalError
from r2p.orchestration.tasks import trigger_info


def _event(run_type: str, end: str) -> SimpleNamespace:
    return SimpleNamespace(extra={"run_type": run_type, "interval": {"end": end}})


def _context(events: list, run_type: str = "asset_triggered", logical=None) -> dict:
    return {
        "dag_run": SimpleNamespace(run_type=run_type),
        "logical_date": logical,
        "triggering_asset_events": {"features/churn": events} if events else {},
    }


def test_cutoff_is_the_newest_interval_end_and_backfill_is_recognised() -> None:
    info = trigger_info(
        _context(
            [
                _event("scheduled", "2026-11-20T00:00:00+00:00"),
                _event("backfill", "2026-11-22T00:00:00+00:00"),
            ]
        )
    )
    assert info["cutoff"] == "2026-11-22" and info["events"] == 2
    assert info["run_type"] == "asset_triggered"
    assert info["source_run_types"] == ["backfill", "scheduled"]
    assert info["from_backfill"] and not info["promotable"]


def test_scheduled_data_may_promote() -> None:
    info = trigger_info(_context([_event("scheduled", "2026-11-20T00:00:00+00:00")]))
    assert info["promotable"] and not info["from_backfill"]


def test_without_events_the_logical_date_is_the_cutoff() -> None:
    logical = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    info = trigger_info(_context([], run_type="manual", logical=logical))
    assert info["cutoff"] == "2026-11-25" and info["run_type"] == "manual"


def test_no_events_and_no_logical_date_is_refused() -> None:
    with pytest.raises(IntervalError, match="needs asset events or a logical date"):
        trigger_info(_context([], run_type="manual"))
    from r2p.orchestration.tasks import training_set

    with pytest.raises(AirflowFailException, match="IntervalError"):
        training_set("churn", {**_context([], run_type="manual"), "run_id": "manual__x"})
