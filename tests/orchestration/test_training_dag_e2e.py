"""Both DAGs end to end, shrunk: nine data days, then the training DAG (dags test)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from r2p.orchestration.dagtest import run_dag_test, run_dag_tests
from r2p.runner import RunInfo, manifest
from r2p.sample.landing import generate_days

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
START = dt.date(2026, 11, 10)


@pytest.mark.parametrize("name", ["churn", "fleet"])
def test_data_then_training(name, request, tmp_path, monkeypatch) -> None:
    cfg = request.getfixturevalue(name)
    data = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    data["models"] = data["models"][:1]  # one candidate (several: test_candidates_e2e)
    data["models"][0]["epochs"] = 2  # shrunk: the real config, two knobs smaller
    data.setdefault("gates", {})["min_eval_rows"] = 20
    configs = tmp_path / "configs"
    configs.mkdir()
    for other in (REPO / "configs").glob("*.yaml"):
        (configs / other.name).write_text(other.read_text())
    (configs / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("R2P_CONFIGS", str(configs))
    days = [START + dt.timedelta(days=i) for i in range(10)]
    generate_days(cfg, START, len(days), entities=80)
    results = run_dag_tests(f"{name}_data", days)
    assert all(r.ok for r in results), results[-1].log_file.read_text()[-3000:]
    run = run_dag_test(f"{name}_training", days[-1])
    assert run.ok, run.log_file.read_text()[-4000:]
    states = {t: s for t, (s, _) in run.task_states.items()}
    stages = manifest(RunInfo(name, run.run_id))["stages"]
    verdict = stages["evaluate"]["outputs"]["verdict"]
    assert verdict in ("promote", "reject"), stages["evaluate"]["outputs"]["reason"]
    assert states == {
        **{
            t: "success"
            for t in (
                "training_set",
                "eager_check",
                "prototype",
                "retrain",
                "export",
                "infra_validate",
                "parity",
                "evaluate",
            )
        },
        "promote": "success" if verdict == "promote" else "skipped",
        "notify": "success",
    }
    from r2p import storage
    from r2p.promotion import record

    decision = storage.read_json(storage.path(stages["evaluate"]["outputs"]["decision_uri"]))
    assert decision["champion"] is None and decision["window"]["rows"] >= 20
    champion = record.read(name).champion
    if verdict == "promote":
        assert champion["registry_version"] == 1
        assert stages["promote"]["outputs"]["served"]["version"] == 1
    else:
        assert champion is None
    retrain = stages["retrain"]["outputs"]
    assert retrain["traces"] == {"train_step": 1, "eval_step": 1}
    assert retrain["mlflow_run_id"] and retrain["trigger"]["run_type"] == "manual"
    assert retrain["trigger"]["cutoff"] == (days[-1] + dt.timedelta(days=1)).isoformat()
    assert stages["training_set"]["outputs"]["manifest"]["splits"]["train"]["rows"] > 0
    assert stages["infra_validate"]["outputs"]["max_abs_diff"] <= 1e-5
    assert stages["parity"]["outputs"]["passed"] is True
    assert stages["eager_check"]["outputs"]["tensorflow"]["logits"][1] == len(
        cfg.dataset.label.classes
    )
