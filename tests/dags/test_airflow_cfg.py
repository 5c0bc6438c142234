"""The embedded home's airflow.cfg: ``airflow`` typed in a shell with only ``AIRFLOW_HOME``
(and ``R2P_HOME``) set sees r2p's DAGs, no examples, and the current home after a move."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from r2p.orchestration.airflow_cfg import is_managed, update_lines, write_airflow_cfg
from r2p.orchestration.dagtest import ensure_db

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def _shell(home: Path, *args: str) -> subprocess.CompletedProcess:
    """``airflow ARGS`` as a user types it: no AIRFLOW__* variables, only the two homes."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "AIRFLOW_HOME": str(home / "airflow"),
        "R2P_HOME": str(home),
    }
    return subprocess.run(
        [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=300, cwd="/"
    )


def _embedded(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(R2P_HOME=str(home), AIRFLOW_HOME=str(home / "airflow"))
    return env


def test_update_lines_keeps_comments_and_other_keys() -> None:
    text = "# top\n[core]\n# about it\ndags_folder = /old\nfernet_key = abc%%\n\n[logging]\nx = 1\n"
    new = update_lines(
        text,
        {
            ("core", "dags_folder"): "/new",
            ("core", "load_examples"): "False",
            ("logging", "x"): "2",
            ("r2p", "airflow_home"): "/h",
        },
    )
    assert new == (
        "# top\n[core]\n# about it\ndags_folder = /new\nfernet_key = abc%%\nload_examples = False"
        "\n\n[logging]\nx = 2\n\n[r2p]\nairflow_home = /h\n"
    )
    assert update_lines(new, {("core", "dags_folder"): "/new"}) == new  # idempotent


def test_only_a_home_under_r2p_home_is_managed(tmp_path: Path) -> None:
    assert is_managed(tmp_path / "h" / "airflow", tmp_path / "h")
    assert not is_managed(tmp_path / "elsewhere", tmp_path / "h")
    env = {"R2P_HOME": str(tmp_path / "h"), "AIRFLOW_HOME": str(tmp_path / "prod")}
    assert write_airflow_cfg(env) is None and not (tmp_path / "prod").exists()


def test_the_shell_sees_r2p_dags_and_a_moved_home_is_rewritten(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ensure_db(_embedded(home))
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(home / "airflow" / "airflow.cfg")
    assert cfg.get("core", "dags_folder") == str(REPO / "dags")
    assert cfg.get("core", "plugins_folder") == str(REPO / "plugins")
    assert cfg.get("api_auth", "jwt_secret")  # Airflow's generated file, kept
    done = _shell(home, "config", "get-value", "core", "load_examples")
    assert done.stdout.strip() == "False", done.stderr[-2000:]
    done = _shell(home, "dags", "list", "-o", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("["))
    dags = {d["dag_id"] for d in json.loads(line)}
    assert {"churn_data", "churn_training", "fleet_data", "fleet_training"} <= dags
    assert not any(d.startswith("example_") for d in dags)

    moved = tmp_path / "moved"
    shutil.move(home, moved)
    ensure_db(_embedded(moved))
    text = (moved / "airflow" / "airflow.cfg").read_text()
    assert str(home) not in text
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(text)
    assert cfg.get("database", "sql_alchemy_conn") == f"sqlite:///{moved}/airflow/airflow.db"
    assert cfg.get("logging", "base_log_folder") == f"{moved}/airflow/logs"
    done = _shell(moved, "dags", "list", "-o", "json")
    assert done.returncode == 0 and "churn_training" in done.stdout, done.stderr[-3000:]
    assert not home.exists()  # nothing was written at the old place
