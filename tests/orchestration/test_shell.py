"""``r2p train`` and ``r2p run``: usage errors exit 2; verdicts from the run's tasks and stage
records; one real run on sample data (data DAG per landed day, then training)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from r2p.orchestration import shell
from r2p.orchestration.dagtest import DagTestResult

REPO = Path(__file__).resolve().parents[2]
START = dt.date(2026, 11, 10)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("train", "no_such_pipeline"), "no such config file"),
        (("train", "churn", "--cutoff", "2026-13-01"), "not a date"),
        (("run", "churn", "--days", "0"), "must be at least 1"),
        (("run",), "required: pipeline"),
        (("run", "churn"), "land data first"),
    ],
)
def test_usage_and_config_errors_exit_2(home, cli, args, says) -> None:
    done = cli(*args, env={"R2P_HOME": str(home)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr, done.stderr


def _result(states: dict[str, str], state: str = "success", rc: int = 0) -> DagTestResult:
    tasks = {t: (s, 1) for t, s in states.items()}
    return DagTestResult("churn_training", START, rc, "manual__x", state, Path("/log"), tasks)


OK = {t: "success" for t in shell.TRAINING_TASKS}
EVAL = {"verdict": "reject", "reason": "improvement: 0.001 < 0.01", "metric": "auc"}


def _with(monkeypatch, stages: dict) -> None:
    monkeypatch.setattr(shell, "_stages", lambda result, pipeline: stages)


def test_promoted_rejected_and_failed_verdicts(monkeypatch) -> None:
    _with(
        monkeypatch,
        {
            "evaluate": {"outputs": {**EVAL, "verdict": "promote", "reason": "every gate passed"}},
            "promote": {"outputs": {"promoted": True, "version": 3, "previous_version": 2}},
        },
    )
    s = shell.training_summary(_result(OK), "churn")
    assert (s["outcome"], s["version"], s["cutoff"]) == ("promoted", 3, "2026-11-11")
    assert shell.verdict_line(s) == (
        "verdict: promoted, champion v3 (previous v2): every gate passed"
    )

    _with(monkeypatch, {"evaluate": {"outputs": EVAL}})
    s = shell.training_summary(_result({**OK, "promote": "skipped"}), "churn")
    assert s["outcome"] == "rejected" and s["reason"] == "reject: improvement: 0.001 < 0.01"
    assert list(s["tasks"]) == list(shell.TRAINING_TASKS)  # in the DAG's order

    error = {"type": "AirflowFailException", "message": "ParityError: TF 0.71 vs torch 0.80"}
    _with(monkeypatch, {"parity": {"status": "failed", "error": error}})
    failed = {**OK, "parity": "failed", "evaluate": "upstream_failed", "promote": "upstream_failed"}
    s = shell.training_summary(_result(failed), "churn")  # notify succeeded: state success
    assert s["outcome"] == "failed" and s["failed_task"] == "parity"
    assert shell.verdict_line(s) == (
        "verdict: failed at parity: AirflowFailException: ParityError: TF 0.71 vs torch 0.80"
    )
    _with(monkeypatch, {})
    s = shell.training_summary(_result({}, state=None, rc=1), "churn")
    assert s["outcome"] == "failed" and "did not finish" in s["message"]


def test_landed_days_are_the_partitions_with_a_contract(churn) -> None:
    from r2p.ingest.contract import partition_path
    from r2p.sample.landing import generate_days

    generate_days(churn, START, 3, entities=10)
    half = partition_path(churn, churn.source_names[0], START + dt.timedelta(days=5))
    half.mkdir(parents=True, exist_ok=True)
    (half / "part-00000.csv").write_text("no contract yet")
    assert shell.landed_days(churn) == [START + dt.timedelta(days=i) for i in range(3)]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_run_lands_trains_and_prints_the_verdict(churn, tmp_path, monkeypatch, capsys) -> None:
    from r2p.cli import main
    from r2p.sample.landing import generate_days

    data = yaml.safe_load((REPO / "configs" / "churn.yaml").read_text())
    data["models"][0]["epochs"] = 2  # shrunk as in test_training_dag_e2e
    data.setdefault("gates", {})["min_eval_rows"] = 20
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "churn.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("R2P_CONFIGS", str(configs))
    generate_days(churn, START, 10, entities=80)
    capsys.readouterr()  # the sample generator's log lines
    code = main(["run", "churn", "--json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out[captured.out.index("{\n") :])
    assert code == 0 and doc["exit_code"] == 0, captured.out[-4000:]
    assert doc["days"] == [(START + dt.timedelta(days=i)).isoformat() for i in range(10)]
    assert all(d["ok"] for d in doc["data"])
    training = doc["training"]
    assert training["cutoff"] == (START + dt.timedelta(days=10)).isoformat()
    assert training["outcome"] in ("promoted", "rejected") and training["reason"]
    assert training["tasks"]["parity"] == "success"
    assert "churn_data: 10 partition(s)" in captured.err  # progress, before each DAG run
    assert "churn_training: training with cutoff 2026-11-20" in captured.err
