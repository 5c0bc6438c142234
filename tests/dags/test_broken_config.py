"""A broken pipeline config breaks only itself: the other pipelines' DAGs load (and are not
stale in Airflow's database), and the broken one is a DAG import error naming file, line, key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
AIRFLOW = str(Path(sys.executable).parent / "airflow")


@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    """R2P_CONFIGS with churn as shipped and fleet broken (epochs: -3); the bad line."""
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "churn.yaml").write_text((REPO / "configs" / "churn.yaml").read_text())
    lines = (REPO / "configs" / "fleet.yaml").read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.strip().startswith("epochs:"))
    lines[at] = lines[at].split("epochs:")[0] + "epochs: -3"
    (folder / "fleet.yaml").write_text("\n".join(lines) + "\n")
    assert yaml.safe_load((folder / "fleet.yaml").read_text())["models"][0]["epochs"] == -3
    monkeypatch.setenv("R2P_CONFIGS", str(folder))
    return folder, at + 1


def test_load_each_keeps_the_good_and_names_the_bad(configs) -> None:
    from r2p.config.loader import load_each

    folder, line = configs
    good, bad = load_each()
    assert [c.pipeline for c in good] == ["churn"]
    assert list(bad) == [folder / "fleet.yaml"]
    assert f"fleet.yaml:{line}: models[0].epochs" in str(bad[folder / "fleet.yaml"])


def test_the_good_pipeline_loads_and_the_broken_one_is_an_import_error(configs) -> None:
    folder, line = configs
    bag = DagBag(dag_folder=str(DAGS))
    assert {"churn_data", "churn_training", "churn_promotion", "r2p_freshness"} <= set(bag.dags)
    assert not any(d.startswith("fleet_") for d in bag.dags)
    assert sorted(bag.dags["r2p_freshness"].task_dict) == ["check_churn"]
    (path,) = bag.import_errors
    assert Path(path).name == "r2p_config_errors.py"
    trace = bag.import_errors[path]
    assert f"{folder / 'fleet.yaml'}:{line}: models[0].epochs: " in trace, trace
    assert "BrokenConfigs" in trace and "fleet.yaml" in trace.splitlines()[-3]


def test_airflow_keeps_the_good_dags_active_and_lists_the_import_error(configs, tmp_path):
    """Through Airflow's own CLI on a fresh home: the DAGs and the import error as the DAG
    processor would record them (``dags reserialize`` writes both into the database)."""
    _, line = configs
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        R2P_HOME=str(tmp_path / "home"),
        AIRFLOW_HOME=str(tmp_path / "home" / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )

    def airflow(*args: str, ok: tuple[int, ...] = (0,)) -> str:
        done = subprocess.run(
            [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode in ok, done.stderr[-3000:]
        return done.stdout

    def as_json(*args: str) -> list:
        out = airflow(*args, "-o", "json", ok=(0, 1)).splitlines()  # 1: there are errors
        return json.loads(next(ln for ln in reversed(out) if ln.startswith("[")))

    airflow("db", "migrate")
    airflow("dags", "reserialize")
    listed = {d["dag_id"] for d in as_json("dags", "list")}
    assert {"churn_data", "churn_training", "r2p_health", "r2p_freshness"} <= listed
    assert not any(d.startswith("fleet_") for d in listed)
    (error,) = as_json("dags", "list-import-errors")
    assert error["filepath"] == "r2p_config_errors.py"
    assert f"fleet.yaml:{line}: models[0].epochs: Input should be" in error["error"]
    import sqlite3

    db = tmp_path / "home" / "airflow" / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT dag_id, is_stale, has_import_errors FROM dag").fetchall()
    assert rows and all(not stale and not errors for _, stale, errors in rows), rows
