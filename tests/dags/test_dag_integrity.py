"""DAG integrity: every config's DAGs parse with no services, stay light, and are well formed."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import CronDataIntervalTimetable, ExceptionRetryPolicy

from r2p.config import load_all

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
HEAVY = ("torch", "tensorflow", "feast", "great_expectations", "pandas", "mlflow")
CONFIGS = load_all()


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.pipeline)
def test_every_config_has_a_well_formed_data_dag(dagbag: DagBag, cfg) -> None:
    dag = dagbag.dags.get(f"{cfg.pipeline}_data")
    assert dag is not None
    assert isinstance(dag.timetable, CronDataIntervalTimetable)  # not a zero-width @daily
    assert {"r2p", cfg.pipeline, "data"} <= set(dag.tags)
    assert dag.doc_md and dag.doc_md.startswith(f"# {cfg.pipeline}_data")
    assert dag.start_date.tzinfo is not None and dag.catchup is False
    expected = {f"wait_{s}" for s in cfg.source_names} | {f"ingest_{s}" for s in cfg.source_names}
    assert set(dag.task_dict) == expected | {"validate", "materialize", "notify"}
    assert dag.task_dict["notify"].trigger_rule == "all_done"
    assert dag.task_dict["notify"].retries == 0
    for task in dag.tasks:
        assert type(task.on_failure_callback[0]).__name__ == "FailureNotifier", task.task_id
        if task.task_id == "notify":
            continue
        assert task.retries >= 1, task.task_id
        assert isinstance(task.retry_policy, ExceptionRetryPolicy), task.task_id
        assert task.retry_exponential_backoff and task.execution_timeout
    # every task is upstream of notify: it runs when none is still running or retrying
    assert dag.task_dict["notify"].upstream_task_ids == set(dag.task_dict) - {"notify"}
    for source in cfg.source_names:
        wait, ingest = dag.task_dict[f"wait_{source}"], dag.task_dict[f"ingest_{source}"]
        assert wait.downstream_task_ids - {"notify"} == {f"ingest_{source}"}
        assert ingest.downstream_task_ids - {"notify"} == {"validate"}
    assert dag.task_dict["validate"].downstream_task_ids - {"notify"} == {"materialize"}
    # the features/<pipeline> event is added through an alias (left out by older backfill runs)
    (outlet,) = dag.task_dict["materialize"].outlets
    assert type(outlet).__name__ == "AssetAlias"
    assert outlet.name == f"features/{cfg.pipeline}/published"
    assert dag.task_dict["materialize"].pool == "r2p_feast"  # one Feast writer at a time


def test_data_problems_fail_at_once_and_network_errors_retry() -> None:
    from r2p.errors import BatchRejected
    from r2p.orchestration.factory import RETRY_POLICY

    assert RETRY_POLICY.evaluate(BatchRejected("x"), 1, 4).action.value == "fail"
    assert RETRY_POLICY.evaluate(ConnectionResetError("x"), 1, 4).action.value == "retry"
    assert RETRY_POLICY.evaluate(KeyError("bug"), 1, 4).action.value == "fail"


PROBE = """
import importlib.util, json, sys, time
import airflow.sdk  # what a dag-processor has loaded already,
airflow.sdk.Asset("probe://warm")  # providers' asset URI handlers included (once per process)
heavy = HEAVY
before = set(sys.modules)
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("dagfile", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
new = {m.split(".")[0] for m in set(sys.modules) - before}
print(json.dumps({"seconds": time.perf_counter() - t, "heavy": sorted(new & set(heavy))}))
""".replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize("dag_file", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_dag_file_is_light_and_needs_no_services(dag_file: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        R2P_HOME=str(tmp_path / "home"),
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql://nobody@127.0.0.1:1/none",
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(dag_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"heavy modules imported at parse time: {result['heavy']}"
    assert result["seconds"] < 1.0, f"parsing took {result['seconds']:.2f}s"
    assert not (tmp_path / "home").exists(), "parsing a DAG file must not write state"


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.pipeline)
def test_every_config_has_a_training_dag_on_its_features_asset(dagbag: DagBag, cfg) -> None:
    dag = dagbag.dags.get(f"{cfg.pipeline}_training")
    assert dag is not None and {"r2p", cfg.pipeline, "training"} <= set(dag.tags)
    assert dag.max_active_runs == 1 and dag.doc_md
    if cfg.training.schedule is None:
        assert [a.name for a in dag.timetable.asset_condition.objects] == [
            f"features/{cfg.pipeline}"
        ]
    assert [t.task_id for t in dag.topological_sort()] == [
        "training_set",
        "eager_check",
        "prototype",
        "retrain",
        "export",
        "infra_validate",
        "parity",
        "evaluate",
        "promote",
        "notify",
    ]
    assert [o.name for o in dag.task_dict["promote"].outlets] == [f"model/{cfg.pipeline}/champion"]
    for task in dag.tasks:
        if task.task_id == "notify":
            continue
        assert task.retries >= 1 and isinstance(task.retry_policy, ExceptionRetryPolicy)
        assert task.execution_timeout == dt.timedelta(minutes=cfg.training.timeout_minutes)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.pipeline)
def test_every_config_has_a_manual_promotion_dag(dagbag: DagBag, cfg) -> None:
    dag = dagbag.dags.get(f"{cfg.pipeline}_promotion")
    assert dag is not None and {"r2p", cfg.pipeline, "promotion"} <= set(dag.tags)
    assert type(dag.timetable).__name__ == "NullTimetable"  # manual only
    assert dag.max_active_runs == 1 and list(dag.task_dict) == ["operate"]
    assert set(dag.params) == {"action", "reason", "version", "who"}
    assert [o.name for o in dag.task_dict["operate"].outlets] == [f"model/{cfg.pipeline}/champion"]
    assert dag.task_dict["operate"].retries == 0  # a person is waiting: no silent retries


def test_freshness_dag_checks_every_pipeline_hourly(dagbag: DagBag) -> None:
    dag = dagbag.dags["r2p_freshness"]
    assert sorted(dag.task_dict) == sorted(f"check_{c.pipeline}" for c in CONFIGS)
    assert dag.timetable.expression == "17 * * * *" and dag.max_active_runs == 1
