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
    home = tmp_path / "demo-home"
    result = run_cli("demo", "--days", "2", "--end", "2026-11-24", env={"R2P_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert "churn: Customer churn" in result.stdout and "fleet: Vehicle" in result.stdout
    assert re.search(r"profile\s+2\s+1000\s+manifest.json \(2 partitions\)", result.stdout)
    assert (home / "storage/landing/churn/profile/ds=2026-11-24/manifest.json").exists()
    assert (home / "storage/runs/fleet/demo__2026-11-24/stages/sample.json").exists()
    assert (home / "logs/runs/churn/demo__2026-11-24.log").exists()
    assert fingerprint(USER_STATE) == USER_STATE_BEFORE, "the user's home or ~/airflow changed"


def test_user_home_untouched_so_far() -> None:
    # pytest_sessionfinish checks the same again after the last test.
    assert fingerprint(USER_STATE) == USER_STATE_BEFORE
