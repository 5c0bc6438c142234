"""The data DAG end to end through ``airflow dags test`` (real Airflow on SQLite)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from pathlib import Path

import pytest
import yaml

from r2p import storage
from r2p.config import PipelineConfig
from r2p.ingest.quarantine import read_quarantine
from r2p.ingest.schema import source_schema
from r2p.orchestration.dagtest import run_dag_test
from r2p.runner import RunInfo, manifest
from r2p.sample.landing import Defect, generate_days

pytestmark = pytest.mark.slow
DAY = dt.date(2026, 11, 16)  # Monday
REPO = Path(__file__).resolve().parents[2]


def _offline(cfg: PipelineConfig, ds: dt.date = DAY) -> dict:
    return {s: storage.pointer(f"offline/{cfg.dataset.name}/{s}/ds={ds}") for s in cfg.source_names}


def _asset_events(name: str) -> list[dict]:
    """The extras of an asset's events, oldest first, from the embedded metadata database."""
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.name = ? ORDER BY e.id",
            (name,),
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


def test_churn_day_runs_every_stage_and_a_rerun_changes_nothing(churn: PipelineConfig) -> None:
    generate_days(churn, DAY, 1, entities=60)
    result = run_dag_test("churn_data", DAY)
    assert result.ok, result.log_file.read_text()[-3000:]
    assert {s for s, _ in result.task_states.values()} == {"success"}
    assert all(tries == 1 for _, tries in result.task_states.values())
    stages = manifest(RunInfo("churn", result.run_id))["stages"]
    assert set(stages) == {f"ingest_{s}" for s in churn.source_names} | {"validate", "materialize"}
    assert stages["materialize"]["outputs"]["feature_views"] == ["churn_profile", "churn_activity"]
    event = _asset_events("features/churn")[-1]
    assert event["run_type"] == "manual" and event["run_id"] == result.run_id
    assert event["interval"] == {
        "start": "2026-11-16T00:00:00+00:00",
        "end": "2026-11-17T00:00:00+00:00",
        "ds": "2026-11-16",
    }
    assert stages["ingest_profile"]["outputs"]["rows_accepted"] == 60
    assert stages["validate"]["outputs"]["success"] is True
    assert all(r["wall_seconds"] > 0 and r["peak_rss_bytes"] > 0 for r in stages.values())
    before = _offline(churn)
    assert all(before.values())
    again = run_dag_test("churn_data", DAY)
    assert again.ok and again.run_id != result.run_id
    assert _offline(churn) == before  # idempotent by interval: same committed partitions


def test_fleet_runs_the_same_dag_factory_and_skips_sources_not_due(fleet: PipelineConfig) -> None:
    tuesday = DAY + dt.timedelta(days=1)
    generate_days(fleet, tuesday, 1, entities=40)
    result = run_dag_test("fleet_data", tuesday)
    assert result.ok, result.log_file.read_text()[-3000:]
    assert result.task_states["wait_vehicle_profile"][0] == "skipped"
    assert result.task_states["ingest_vehicle_profile"][0] == "skipped"
    assert result.task_states["validate"][0] == "success"
    assert storage.pointer(f"validation/fleet/ds={tuesday}")["success"] is True


def test_refused_batch_fails_once_and_changes_nothing_downstream(churn: PipelineConfig) -> None:
    generate_days(churn, DAY, 1, entities=60, inject=[Defect("wrong_type", "activity")])
    result = run_dag_test("churn_data", DAY)
    assert result.state == "failed" and result.returncode != 0
    assert result.task_states["ingest_activity"] == ("failed", 1)  # retries=3, but not retried
    assert result.task_states["validate"][0] == "upstream_failed"
    assert result.task_states["materialize"][0] == "upstream_failed"  # Feast untouched
    log = result.log_file.read_text()
    assert "batch churn/activity ds=2026-11-16 refused: part-00000.csv: wrong_type" in log
    assert read_quarantine(source_schema(churn, "activity"), DAY)["kind"] == "batch_rejected"
    assert _offline(churn)["activity"] is None
    assert storage.pointer(f"validation/churn/ds={DAY}") is None


def test_late_data_fails_at_the_deadline_saying_what_is_missing(churn: PipelineConfig) -> None:
    generate_days(churn, DAY, 1, entities=20, inject=[Defect("no_contract", "profile")])
    result = run_dag_test("churn_data", DAY)
    assert result.state == "failed"
    assert result.task_states["wait_profile"] == ("failed", 1)
    assert result.task_states["ingest_profile"][0] == "upstream_failed"
    assert result.task_states["ingest_activity"][0] == "success"
    log = result.log_file.read_text()
    assert "landing data late: churn/profile has no manifest.json" in log
    assert "files present without it: ['part-00000.csv']" in log


def test_failed_suite_stops_the_run_without_retry(churn, tmp_path, monkeypatch) -> None:
    data = yaml.safe_load((REPO / "configs" / "churn.yaml").read_text())
    data["expectations"].append(
        {
            "type": "expect_column_max_to_be_between",
            "source": "activity",
            "kwargs": {"column": "pages_viewed", "max_value": 3},
        }
    )
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "churn.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("R2P_CONFIGS", str(configs))
    generate_days(churn, DAY, 1, entities=60)
    result = run_dag_test("churn_data", DAY)
    assert result.task_states["validate"] == ("failed", 1)
    assert "expect_column_max_to_be_between(pages_viewed)" in result.log_file.read_text()
    assert storage.pointer(f"validation/churn/ds={DAY}")["success"] is False
