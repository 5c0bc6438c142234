"""Evaluate against the champion, promote, roll back, force: the record says why, the registry
and the serving folder follow it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from r2p import storage
from r2p.evaluation.stage import evaluate, evaluate_stage
from r2p.export.lineage import describe
from r2p.promotion import promote as p
from r2p.promotion import record, registry
from r2p.promotion.stage import promote_stage
from tests.promotion.conftest import TRIGGER


def _decision(world, name: str) -> dict:
    return storage.read_json(storage.path(world.evaluations[name]["decision_uri"]))


def _checks(decision: dict) -> dict[str, bool]:
    return {c["name"]: c["passed"] for c in decision["checks"]}


def _served_version(pipeline: str = "churn") -> int | None:
    from r2p.promotion.serving_folder import served

    s = served(pipeline)
    return s and s["version"]


def test_first_run_promotes_on_floors_and_baseline(in_world) -> None:
    d = _decision(in_world, "A")
    assert d["verdict"] == "promote" and d["champion"] is None
    checks = _checks(d)
    assert checks["first_run_policy"] and checks["floor_roc_auc"] and checks["baseline"]
    assert "beats_champion" not in checks
    assert in_world.promotions["A"]["promoted"] and in_world.promotions["A"]["version"] == 1


def test_better_candidate_is_promoted_and_everything_follows(in_world) -> None:
    d = _decision(in_world, "B")
    assert d["verdict"] == "promote", d["reason"]
    delta = d["deltas"]["vs_champion"]["roc_auc"]
    assert delta["delta"] > 0 and delta["improvement_lower_bound"] > 0 and delta["low"] > 0
    assert d["champion"]["registry_version"] == 1
    state = record.read("churn")
    assert state.champion["registry_version"] == 2
    assert state.previous_champion["registry_version"] == 1
    assert state.open_intent is None
    assert registry.aliases("churn") == {"champion": 2, "previous_champion": 1}
    assert _served_version() == 2
    served = Path(os.environ["R2P_HOME"]) / "serving" / "churn"
    assert served.is_symlink() and sorted(x.name for x in served.iterdir()) == ["2"]
    files = {x.name for x in (served / "2").iterdir()}
    assert {"model.pb", "contract.json", "saved_model.pb", "variables"} <= files
    contract = json.loads((served / "2" / "contract.json").read_text())
    assert contract["pb_sha256"] == state.champion["pb_sha256"]


def test_candidate_trained_on_drifted_days_loses_and_the_champion_stays(in_world) -> None:
    d = _decision(in_world, "C")
    assert d["verdict"] == "reject" and d["reason"].startswith("beats_champion")
    assert d["deltas"]["vs_champion"]["roc_auc"]["high"] < 0
    assert not in_world.promotions["C"]["promoted"]
    assert record.read("churn").champion["registry_version"] == 2 and _served_version() == 2


def test_decision_records_inputs_thresholds_metrics_and_intervals(in_world) -> None:
    d = _decision(in_world, "B")
    for model in ("candidate", "champion"):
        for key in ("export_uri", "pb_sha256", "dataset_hash", "feature_service", "data_end"):
            assert d[model][key], (model, key)
    assert d["window"]["rows"] >= d["thresholds"]["min_eval_rows"]
    assert d["window"]["after"] >= d["candidate"]["train_valid_end"]
    assert d["window"]["after"] >= d["champion"]["train_valid_end"]
    assert d["thresholds"]["floors"] == {"roc_auc": 0.6}
    assert d["thresholds"]["improvement"]["bootstrap_samples"] == 1000
    for model in ("candidate", "champion", "baseline"):
        assert set(d["metrics"][model]) == {"accuracy", "roc_auc", "f1", "log_loss"}
    for m, delta in d["deltas"]["vs_baseline"].items():
        assert delta["low"] <= delta["delta"] <= delta["high"], m
    assert d["baseline"]["kind"] == "logistic_regression"
    assert 0 < d["timings"]["bootstrap_share"] < 1
    assert set(d["per_class"]) == {"candidate", "champion", "baseline", "reference_hgb"}
    assert set(d["per_class"]["candidate"]) == set(in_world.cfg.dataset.label.classes)
    support = sum(c["support"] for c in d["per_class"]["candidate"].values())
    assert support == d["window"]["rows"]


def test_report_is_one_readable_page_also_in_mlflow(in_world) -> None:
    html = storage.path(in_world.evaluations["B"]["report_uri"]).read_text()
    assert html.startswith("<!DOCTYPE html>") and "promote" in html
    assert html.count("<svg") >= 2 and "ROC" in html and "Precision-recall" in html
    assert "Confusion matrices" in html and "Per-class metrics" in html
    assert not re.search(r"<script|<link |src=\"http", html)  # self-contained
    d = _decision(in_world, "B")
    assert d["candidate"]["pb_sha256"] in html and d["champion"]["pb_sha256"] in html
    from r2p.training.tracking import tracking_client

    client = tracking_client()
    run = d["candidate"]["mlflow_run_id"]
    names = {a.path for a in client.list_artifacts(run, "evaluation")}
    assert names == {"evaluation/decision.json", "evaluation/report.html"}
    assert client.get_run(run).data.tags["r2p.verdict"] == "promote"
    version = client.get_model_version("r2p-churn", "2")
    served = {a.path for a in client.list_artifacts(version.run_id, "serving")}
    assert {"serving/model.pb", "serving/contract.json", "serving/saved_model"} <= served
    assert {"serving/dataset_manifest.json", "serving/report.html"} <= served


def test_evaluation_is_reused_on_rerun(in_world) -> None:
    again = evaluate_stage(
        in_world.cfg, in_world.datasets["C"], "rerun", in_world.exports["C"], TRIGGER
    )
    assert again["reused"] and again["decision_uri"] == in_world.evaluations["C"]["decision_uri"]


def test_promoting_the_champion_again_changes_nothing(world_copy) -> None:
    before = len(record.read("churn").entries)
    out = p.promote(world_copy.cfg, describe(world_copy.exports["B"]["uri"]), reason="again")
    assert out["outcome"] == "unchanged" and "champion already" in out["detail"]
    assert len(record.read("churn").entries) == before


def test_rollback_and_forward_again(world_copy) -> None:
    cfg = world_copy.cfg
    with pytest.raises(p.PromotionError, match="needs a reason"):
        p.rollback(cfg, reason="  ")
    back = p.rollback(cfg, reason="v2 pages on-call at night", who="alice")
    assert back["outcome"] == "rolled_back"
    assert back["champion"]["registry_version"] == 1
    assert back["previous_champion"]["registry_version"] == 2
    assert registry.aliases("churn") == {"champion": 1, "previous_champion": 2}
    assert _served_version() == 1
    forward = p.force(cfg, version=2, reason="fixed the pager", who="bob")
    assert forward["outcome"] == "forced" and forward["champion"]["registry_version"] == 2
    assert _served_version() == 2 and registry.aliases("churn")["champion"] == 2
    hist = p.history("churn")
    assert [(h["action"], h["version"], h["who"]) for h in hist[-2:]] == [
        ("rollback", 1, "alice"),
        ("force", 2, "bob"),
    ]
    assert hist[-2]["reason"] == "v2 pages on-call at night" and hist[-2]["at"]
    from r2p_jandi import read_outbox

    bodies = [m["payload"]["body"] for m in read_outbox()]
    assert any("rolled back: version 1" in b for b in bodies)
    assert any("forced: version 2" in b for b in bodies)


def test_force_of_an_unknown_version_changes_nothing(world_copy) -> None:
    before = len(record.read("churn").entries)
    with pytest.raises(p.PromotionError, match="no usable version 99"):
        p.force(world_copy.cfg, version=99, reason="typo")
    assert len(record.read("churn").entries) == before


def test_older_data_never_replaces_the_champion_without_a_reason(world_copy) -> None:
    cfg = world_copy.cfg
    old = evaluate_stage(cfg, world_copy.datasets["A"], "late", world_copy.exports["A"], TRIGGER)
    assert old["verdict"] == "reject" and old["reason"].startswith("data_recency")
    assert not promote_stage(cfg, world_copy.datasets["A"], "late", old)["promoted"]
    assert record.read("churn").champion["registry_version"] == 2
    forced = p.force(cfg, version=1, reason="v2 leaks a feature; back to v1", who="carol")
    assert forced["champion"]["registry_version"] == 1
    assert record.read("churn").committed["reason"] == "v2 leaks a feature; back to v1"


def test_nothing_fed_by_backfilled_data_promotes(world_copy) -> None:
    cfg = world_copy.cfg
    p.rollback(cfg, reason="make B a challenger again")  # champion A (drifted), B would win
    backfill = {**TRIGGER, "run_type": "asset_triggered", "source_run_types": ["backfill"]}
    backfill |= {"from_backfill": True, "promotable": False}
    dataset = {**world_copy.datasets["B"], "trigger": backfill}
    ev = evaluate_stage(cfg, dataset, "bf", world_copy.exports["B"], backfill)
    assert ev["verdict"] == "reject" and ev["reason"].startswith("not_from_backfill")
    d = storage.read_json(storage.path(ev["decision_uri"]))
    assert _checks(d)["beats_champion"]  # it would have won: only the backfill rule stops it
    assert not promote_stage(cfg, dataset, "bf", ev)["promoted"]
    # even a 'promote' decision is refused when the trigger came from a backfill
    forged = {**ev, "verdict": "promote"}
    assert not promote_stage(cfg, dataset, "bf", forged)["promoted"]
    assert record.read("churn").champion["registry_version"] == 1


def test_too_few_rows_is_not_evaluated(in_world) -> None:
    cfg = in_world.cfg.model_copy(
        update={"gates": in_world.cfg.gates.model_copy(update={"min_eval_rows": 100_000})}
    )
    cand = describe(in_world.exports["C"]["uri"])
    d, _ = evaluate(cfg, cand, None, TRIGGER, "small")
    assert d["verdict"] == "not_evaluated" and d["reason"].startswith("eval_size")
    assert d["metrics"] == {}


@pytest.mark.parametrize(
    ("gates", "reason"),
    [
        ({"floors": {}}, "threshold_present: gates.floors sets no floor"),
        ({"floors": {"roc_auc": 0.99}}, "floor_roc_auc"),
        ({"floors": {"roc_auc": 0.6, "log_loss": 0.01}}, "floor_log_loss"),
        ({"first_run": "manual"}, "first_run_policy"),
        ({"baseline": "better"}, "baseline"),
    ],
)
def test_gates_fail_closed(in_world, gates: dict, reason: str) -> None:
    cfg = in_world.cfg.model_copy(update={"gates": in_world.cfg.gates.model_copy(update=gates)})
    d, _ = evaluate(cfg, describe(in_world.exports["B"]["uri"]), None, TRIGGER, "g")
    assert d["verdict"] == "reject" and d["reason"].startswith(reason), d["reason"]


def test_a_metric_that_cannot_be_computed_fails_closed() -> None:
    from r2p.config.schema import Gates
    from r2p.evaluation import gates as g

    checks = g.metric_checks(Gates(), {"roc_auc": float("nan"), "accuracy": 1.0}, None)
    verdict, reason = g.verdict(checks)
    assert verdict == "reject" and reason.startswith("metrics_computable")
    assert "log_loss" in reason and "roc_auc" in reason


def test_promotion_dag_rolls_back_with_params(world_copy) -> None:
    import datetime as dt

    from r2p.orchestration.dagtest import run_dag_test

    day = dt.date(2026, 12, 20)
    conf = {"action": "rollback", "reason": "dag rollback", "who": "dave"}
    out = run_dag_test("churn_promotion", day, conf=conf)
    assert out.ok, out.log_file.read_text()[-3000:]
    assert out.task_states["operate"][0] == "success"
    state = record.read("churn")
    assert state.champion["registry_version"] == 1 and state.committed["who"] == "dave"
    assert state.committed["reason"] == "dag rollback" and _served_version() == 1
    bad = run_dag_test("churn_promotion", day + dt.timedelta(days=1), conf={"action": "force"})
    assert not bad.ok and "reason" in bad.log_file.read_text()
    assert record.read("churn").champion["registry_version"] == 1


def test_cli_rollback_history_and_status(world_copy, cli) -> None:
    out = cli("promotion", "rollback", "churn", "--reason", "from the CLI", "--who", "erin")
    assert out.returncode == 0, out.stderr
    assert "churn: rolled_back; champion v1" in out.stdout
    hist = cli("promotion", "history", "churn")
    assert (
        hist.returncode == 0 and "rollback  v1 (previous v2)  by erin: from the CLI" in hist.stdout
    )
    status = json.loads(cli("promotion", "status", "churn").stdout)
    assert status["champion"]["registry_version"] == 1 and status["served"]["version"] == 1
    missing = cli("promotion", "force", "churn", "--version", "42", "--reason", "typo")
    assert missing.returncode == 1 and "no usable version 42" in missing.stderr
    none = cli("promotion", "reconcile", "churn", "--reason", "check")
    assert none.returncode == 0 and "unchanged" in none.stdout


def test_a_model_the_server_cannot_load_is_never_published(world_copy) -> None:
    import shutil

    from r2p.promotion.serving_folder import PublishError

    good = storage.path(world_copy.exports["C"]["uri"])
    broken = world_copy.home / "broken-export"
    shutil.copytree(good.path, broken)
    pb = broken / "model.pb"
    pb.write_bytes(pb.read_bytes()[: len(pb.read_bytes()) // 3])  # truncated
    ref = {**describe(world_copy.exports["C"]["uri"]), "export_uri": f"file://{broken}"}
    ref["export_key"] = "broken-" + ref["export_key"]
    with pytest.raises(PublishError, match="loader refused"):
        p.promote(world_copy.cfg, ref, reason="should fail")
    state = record.read("churn")
    assert state.open_intent is None and state.entries[-1]["kind"] == "abandoned"
    assert "PublishError" in state.entries[-1]["reason"]
    assert state.champion["registry_version"] == 2 and _served_version() == 2
    assert registry.aliases("churn") == {"champion": 2, "previous_champion": 1}
    builds = list((world_copy.home / "serving" / ".builds" / "churn").iterdir())
    assert all(not b.name.startswith("3-") for b in builds)  # the failed build was removed


def test_rollback_tells_the_team_channel(world_copy, jandi_server, connect) -> None:
    from tests.plugins.jandi_server import new_token

    token = new_token()
    connect(world_copy.cfg.alerts.team, jandi_server.url(token))
    p.rollback(world_copy.cfg, reason="v2 doubles false alarms", who="alice")
    (req,) = jandi_server.requests
    assert req.path == f"/webhook/{token}" and req.headers["Accept"].endswith("jandi-v2+json")
    msg = req.json
    assert msg["body"].startswith("[churn] champion rolled back: version 1")
    sections = {i["title"]: i["description"] for i in msg["connectInfo"]}
    assert sections["Why"].startswith("v2 doubles false alarms (by alice")
    assert "version 2 is now previous_champion" in sections["Before"]
    assert sections["Roll back"] == "r2p promotion rollback churn --reason '...'"
