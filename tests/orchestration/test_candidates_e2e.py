"""A training run that carries several candidates (``airflow dags test``): every entry of
``models:`` is trained, exported, infra-validated and parity-checked as its own mapped
instance; a failed one stops only itself; evaluation ranks those that passed and gates the
best; the report and the promotion record name the candidate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from r2p import storage
from r2p.orchestration.dagtest import run_dag_test, run_dag_tests
from r2p.orchestration.shell import training_summary
from r2p.runner import RunInfo, manifest
from r2p.sample.landing import generate_days

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
START = dt.date(2026, 11, 10)
PER_MODEL = ("eager_check", "prototype", "retrain", "export", "infra_validate", "parity")


def test_fleet_trains_every_candidate_and_gates_the_best(fleet, tmp_path, monkeypatch) -> None:
    data = yaml.safe_load((REPO / "configs" / "fleet.yaml").read_text())
    assert len(data["models"]) >= 2, "fleet.yaml carries two candidates"
    for spec in data["models"]:
        spec["epochs"] = 2
    names = [m["name"] for m in data["models"]]
    # a third candidate too large for the size limit: refused at infra-validation, alone
    data["models"].append(
        {"name": "huge", "layers": [{"units": 1024}, {"units": 1024}], "epochs": 1, "seed": 5}
    )
    data.setdefault("gates", {}).update(min_eval_rows=20, max_pb_bytes=1_000_000)
    configs = tmp_path / "configs"
    configs.mkdir()
    for other in (REPO / "configs").glob("*.yaml"):
        (configs / other.name).write_text(other.read_text())
    (configs / "fleet.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("R2P_CONFIGS", str(configs))
    days = [START + dt.timedelta(days=i) for i in range(10)]
    generate_days(fleet, START, len(days), entities=80)
    assert all(r.ok for r in run_dag_tests("fleet_data", days))

    run = run_dag_test("fleet_training", days[-1])
    states = {t: s for t, (s, _) in run.task_states.items()}
    for name in names:
        for task in PER_MODEL:
            assert states[f"{task}[{name}]"] == "success", (task, name)
    assert states["infra_validate[huge]"] == "failed"
    assert states["parity[huge]"] == "upstream_failed"
    assert states["evaluate"] == "success"  # the failed candidate did not stop the others

    stages = manifest(RunInfo("fleet", run.run_id))["stages"]
    assert stages["infra_validate[huge]"]["error"]["type"] == "InfraValidationError"
    evaluation = stages["evaluate"]["outputs"]
    decision = storage.read_json(storage.path(evaluation["decision_uri"]))
    rows = {c["model"]: c for c in decision["candidates"]}
    assert set(rows) == {*names, "huge"}
    assert rows["huge"]["failed"]["stage"] == "infra_validate"
    assert "InfraValidationError" in rows["huge"]["failed"]["error"]
    passed = [rows[n] for n in names]
    chosen = [c for c in passed if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["rank"] == 1
    assert decision["chosen"]["model"] == chosen[0]["model"] == decision["candidate"]["model"]
    assert evaluation["candidate_model"] == chosen[0]["model"]
    page = storage.path(evaluation["report_uri"]).read_text()
    for name in [*names, "huge"]:
        assert name in page

    # the run says which candidate failed and why, beside what the others came to
    summary = training_summary(run, "fleet")
    assert summary["outcome"] == "failed" and summary["failed_task"] == "infra_validate[huge]"
    assert "InfraValidationError" in summary["message"]
    assert summary["evaluation"]["verdict"] in ("promote", "reject")
    if evaluation["verdict"] == "promote":
        from r2p.promotion import record

        champion = record.read("fleet").champion
        assert champion["model"] == chosen[0]["model"]
