"""A broken pipeline DAG file pages on-call once, naming file and line, from the light
``r2p_health`` DAG that keeps running beside it (``airflow dags test``, a real Jandi stand-in)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from r2p.orchestration.dagtest import run_dag_test
from tests.alerts.conftest import text_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[2]


def test_an_import_error_pages_on_call_once_naming_file_and_line(
    churn, routes, tmp_path, monkeypatch
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO / "dags" / "r2p_health.py", dags)
    lines = (REPO / "dags" / "r2p_pipelines.py").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("_cfgs = "))
    lines.insert(at, "broken = load_all(")  # an unclosed call: a SyntaxError in this file
    (dags / "r2p_pipelines.py").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    day = dt.date(2026, 11, 24)
    first = run_dag_test("r2p_health", day)
    assert first.ok, first.log_file.read_text()[-3000:]
    (msg,) = routes.inbox("on_call")
    assert routes.others("on_call") == []
    assert msg["body"].startswith(f"[r2p] DAG import error: dags/r2p_pipelines.py:{at + 1}: ")
    assert "SyntaxError" in msg["body"] or "never closed" in msg["body"], msg["body"]
    assert "docs/runbook.md#import-error" in text_of(msg)
    second = run_dag_test("r2p_health", day)
    assert second.ok and len(routes.inbox("on_call")) == 1  # once, not every 15 minutes
