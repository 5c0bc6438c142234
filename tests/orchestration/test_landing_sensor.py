"""The landing sensor: present now, deferred until present, late only at the deadline."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.ingest.contract import contract_path
from r2p.orchestration import landing_sensor
from r2p.orchestration.landing_sensor import LandingContractTrigger, LandingSensor
from r2p.sample.landing import Defect, generate_days

DAY = dt.date(2026, 11, 17)  # a Tuesday


def _context(day: dt.date, width: dt.timedelta = dt.timedelta(days=1)) -> dict:
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    return {
        "data_interval_start": start,
        "data_interval_end": start + width,
        "dag": SimpleNamespace(dag_id="churn_data"),
        "run_id": "manual__x",
    }


def _sensor(pipeline: str, source: str) -> LandingSensor:
    return LandingSensor(task_id=f"wait_{source}", pipeline=pipeline, source=source)


def test_present_contract_succeeds_at_once(churn: PipelineConfig) -> None:
    generate_days(churn, DAY, 1, entities=10)
    out = _sensor("churn", "activity").execute(_context(DAY))
    assert out["contract_uri"].endswith("landing/churn/activity/ds=2026-11-17/manifest.json")


def test_missing_past_deadline_fails_naming_what_is_missing(churn: PipelineConfig) -> None:
    generate_days(churn, DAY, 1, entities=10, inject=[Defect("no_contract", "activity")])
    with pytest.raises(AirflowFailException) as err:
        _sensor("churn", "activity").execute(_context(DAY))
    msg = str(err.value)
    assert "landing data late: churn/activity has no manifest.json" in msg
    assert "by its deadline 2026-11-18T06:00:00+00:00 (interval end + 6.0h)" in msg
    assert "files present without it: ['part-00000.csv']" in msg


def test_before_the_deadline_it_defers_to_the_trigger(churn: PipelineConfig) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with pytest.raises(TaskDeferred) as deferred:
        _sensor("churn", "profile").execute(_context(today))
    trigger = deferred.value.trigger
    assert isinstance(trigger, LandingContractTrigger)
    assert trigger.uri == storage.uri_of(contract_path(churn, "profile", today))
    assert dt.datetime.fromisoformat(trigger.deadline) > dt.datetime.now(dt.UTC)
    path, kwargs = trigger.serialize()
    assert path == "r2p.orchestration.landing_sensor.LandingContractTrigger"
    assert LandingContractTrigger(**kwargs).uri == trigger.uri


def test_source_not_due_is_skipped(fleet: PipelineConfig) -> None:
    with pytest.raises(AirflowSkipException, match="vehicle_profile is not due on 2026-11-17"):
        _sensor("fleet", "vehicle_profile").execute(_context(DAY))


def test_zero_width_interval_fails_without_retry(churn: PipelineConfig) -> None:
    with pytest.raises(AirflowFailException, match="zero-width or reversed data interval"):
        _sensor("churn", "profile").execute(_context(DAY, dt.timedelta(0)))


def _first_event(trigger: LandingContractTrigger) -> dict:
    async def first():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(asyncio.wait_for(first(), timeout=30))


def test_trigger_fires_when_the_contract_lands(churn: PipelineConfig) -> None:
    uri = storage.uri_of(contract_path(churn, "profile", DAY))
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    timer = threading.Timer(0.5, lambda: generate_days(churn, DAY, 1, entities=5))
    timer.start()
    try:
        assert _first_event(LandingContractTrigger(uri, deadline, 0.1)) == {
            "status": "present",
            "uri": uri,
        }
    finally:
        timer.join()


def test_trigger_reports_late_at_the_deadline(churn: PipelineConfig) -> None:
    uri = storage.uri_of(contract_path(churn, "profile", DAY))
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)).isoformat()
    assert _first_event(LandingContractTrigger(uri, deadline, 0.1))["status"] == "late"
    with pytest.raises(AirflowFailException, match="landing data late"):
        _sensor("churn", "profile").execute_complete(_context(DAY), {"status": "late", "uri": uri})


def test_trigger_checks_storage_off_the_event_loop(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(landing_sensor, "_exists", lambda uri: calls.append(uri) or True)
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()
    assert _first_event(LandingContractTrigger("file:///x", deadline, 1))["status"] == "present"
    assert calls == ["file:///x"]
