"""Training outcomes reach their routes through real DAG runs: a challenger that did not win
tells the team why, a promotion tells the team what changed, a parity failure tells the ML
owners; nothing else hears of them."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from r2p.orchestration.dagtest import run_dag_test, run_dag_tests
from r2p.sample.landing import generate_days
from tests.alerts.conftest import text_of
from tests.alerts.test_alert_routes import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # 13 DAG runs, 3 trainings
START = dt.date(2026, 11, 10)


def _config(folder: Path, **gates) -> None:
    data = yaml.safe_load((REPO / "configs" / "churn.yaml").read_text())
    data.setdefault("gates", {}).update({"min_eval_rows": 40, **gates})
    (folder / "churn.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def test_training_outcomes_reach_team_and_ml_owners(churn, routes, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "configs"
    shutil.copytree(REPO / "configs", folder)
    monkeypatch.setenv("R2P_CONFIGS", str(folder))
    lenient = {"floors": {"roc_auc": 0.0}, "baseline": "ignore"}  # tiny data: gates aside
    _config(folder, first_run="manual", **lenient)
    days = [START + dt.timedelta(days=i) for i in range(10)]
    generate_days(churn, START, len(days), entities=150)
    assert all(r.ok for r in run_dag_tests("churn_data", days))
    assert all(routes.inbox(r) == [] for r in ("on_call", "data_engineering", "ml_owners", "team"))

    kept = run_dag_test("churn_training", days[-1])
    assert kept.ok, kept.log_file.read_text()[-3000:]
    assert kept.task_states["promote"][0] == "skipped"
    (msg,) = routes.inbox("team")
    assert msg["body"].startswith("[churn] champion kept: reject")
    text = text_of(msg)
    assert "first_run_policy" in text and "Report: file://" in text and "roc_auc " in text
    assert routes.others("team") == []

    _config(folder, first_run="promote", **lenient)
    promoted = run_dag_test("churn_training", days[-1])
    assert promoted.ok and promoted.task_states["promote"][0] == "success"
    msgs = routes.inbox("team")
    assert len(msgs) == 2 and msgs[1]["body"].startswith("[churn] champion promoted: version 1")
    assert "Metrics: " in text_of(msgs[1]) and "report.html" in text_of(msgs[1])
    assert routes.others("team") == []

    _config(folder, parity_metric_tolerance=0.0, parity_min_agreement=1.0)
    parity = run_dag_test("churn_training", days[-1])
    assert parity.task_states["parity"][0] == "failed"
    assert parity.task_states["parity"][1] == 1  # a gate failure is not retried
    (msg,) = routes.inbox("ml_owners")
    assert msg["body"].startswith("[churn] Parity gate failed: churn_training.parity failed")
    assert "ParityFailed" in text_of(msg) and "docs/runbook.md#parity-failed" in text_of(msg)
    assert "Where: r2p/export/stage.py" in text_of(msg)
    assert len(routes.inbox("team")) == 2 and routes.inbox("on_call") == []
