"""Tests run in a temporary home; the demo, run as a user would, writes only under its home."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from tests.conftest import REPO, SESSION_HOME, USER_STATE, USER_STATE_BEFORE, fingerprint, run_cli


def test_suite_runs_in_a_temporary_home() -> None:
    home = Path(os.environ["R2P_HOME"])
    assert home.is_relative_to(Path(tempfile.gettempdir())) and home != REPO / ".r2p"
    assert Path(os.environ["AIRFLOW_HOME"]).is_relative_to(SESSION_HOME)
    assert "R2P_STORAGE" not in os.environ or "moto" in os.environ.get("R2P_STORAGE", "")


def test_demo_writes_only_under_its_home(tmp_path: Path) -> None:
    """make demo's command, as a user runs it: sample data, then the data DAGs in Airflow."""
    home = tmp_path / "demo-home"
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AIRFLOW")}
    env["R2P_HOME"] = str(home)  # and Airflow's defaults, as a user has them
    env["R2P_DAGTEST_FORKSERVER"] = None  # the suite's dags-test forkserver is no user's default
    result = run_cli("demo", "--days", "1", "--end", "2026-11-23", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "churn: Customer churn" in out and "fleet: Vehicle" in out
    assert re.search(r"ingest_profile\s+ok\s+500\s+500\s+0", out), out
    assert re.search(r"validate\s+ok", out) and "demo finished: every run succeeded" in out
    assert "training skipped: 1 day(s) loaded, a train split needs at least 9" in out
    assert (home / "airflow" / "airflow.db").exists()
    assert (home / "storage/offline/churn/profile/ds=2026-11-23/_CURRENT.json").exists()
    assert (home / "storage/validation/fleet/ds=2026-11-23/_CURRENT.json").exists()
    assert list((home / "logs/runs/churn").glob("manual__*.log"))
    assert fingerprint(USER_STATE) == USER_STATE_BEFORE, "the user's home or ~/airflow changed"


def test_user_home_untouched_so_far() -> None:
    # pytest_sessionfinish checks the same again after the last test.
    assert fingerprint(USER_STATE) == USER_STATE_BEFORE
