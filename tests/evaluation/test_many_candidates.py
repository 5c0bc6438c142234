"""A run with many candidates, trained for real (churn, 250 entities): the better one on
validation is chosen and gated exactly as a single candidate would be; the others and the
failed ones are in decision.json, in the stage's summary and in report.html."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from r2p import storage
from r2p.evaluation.stage import evaluate, evaluate_stage
from r2p.export.lineage import describe
from tests.promotion.conftest import TRIGGER

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("built", ["churn"], indirect=True)]

# Config order puts the weak model first: only the ranking can make the strong one win.
WEAK, STRONG = "mlp_weak", "mlp"
FAILED = {"model": "mlp_wide", "failed": {"stage": "retrain", "error": "ValueError: loss is NaN"}}


@dataclass
class Trained:
    cfg: Any
    dataset: dict
    home: Any
    exports: dict[str, dict]
    parity: dict[str, dict]
    valid: dict[str, dict]  # model -> its retrain record's validation metrics

    def passed(self, model: str) -> dict:
        return {"model": model, "export": self.exports[model], "parity": self.parity[model]}


@pytest.fixture(scope="module")
def trained(built) -> Trained:
    """Two models of one config (the shipped one and a barely trained copy, listed first)
    trained, exported and parity-checked through the real stages."""
    from r2p.export.stage import export_stage, parity_stage
    from r2p.training.stage import prototype_stage, retrain_stage

    cfg, dataset, _, home = built
    strong = cfg.models[0]
    weak = strong.model_copy(update={"name": WEAK, "epochs": 1, "learning_rate": 1e-5})
    cfg = cfg.model_copy(
        update={
            "models": [weak, strong],
            "gates": cfg.gates.model_copy(update={"min_eval_rows": 50}),
        }
    )
    t = Trained(cfg, {**dataset, "trigger": TRIGGER}, home, {}, {}, {})
    for spec in cfg.models:
        proto = prototype_stage(cfg, dataset, "many", model=spec.name)
        model = retrain_stage(cfg, dataset, "many", proto, TRIGGER, model=spec.name)
        t.exports[spec.name] = export_stage(cfg, dataset, "many", model)
        t.parity[spec.name] = parity_stage(cfg, dataset, "many", proto, t.exports[spec.name], model)
        t.valid[spec.name] = model["metrics"]["valid"]
    return t


@pytest.fixture
def world(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    monkeypatch.setenv("R2P_HOME", str(trained.home))
    return trained


def _decision(summary: dict) -> dict:
    return storage.read_json(storage.path(summary["decision_uri"]))


def _gated(d: dict) -> tuple:
    return d["verdict"], d["reason"], d["checks"], d["metrics"]


def test_the_better_one_on_validation_is_chosen_and_gated(world: Trained) -> None:
    assert world.valid[STRONG]["roc_auc"] > world.valid[WEAK]["roc_auc"]  # the premise
    ev = evaluate_stage(world.cfg, world.dataset, "r1", [world.passed(WEAK), world.passed(STRONG)])
    d = _decision(ev)
    assert d["candidate"]["model"] == STRONG and d["chosen"]["model"] == STRONG
    assert d["candidate"]["export_uri"] == world.exports[STRONG]["uri"]
    assert d["chosen"]["why"].startswith(
        f"best validation roc_auc {world.valid[STRONG]['roc_auc']:.4f} of 2 candidates that "
        "passed parity"
    )
    rows = {r["model"]: r for r in d["candidates"]}
    assert (rows[STRONG]["rank"], rows[STRONG]["chosen"]) == (1, True)
    assert (rows[WEAK]["rank"], rows[WEAK]["chosen"]) == (2, False)
    for model in (WEAK, STRONG):
        assert rows[model]["metrics"] == world.valid[model] and rows[model]["failed"] is None
        assert rows[model]["export_uri"] == world.exports[model]["uri"]
    # gated exactly as the chosen one alone is
    alone, _ = evaluate(world.cfg, describe(world.exports[STRONG]["uri"]), None, TRIGGER, "x")
    assert _gated(d) == _gated(alone)
    assert ev["candidate_model"] == STRONG and ev["verdict"] == d["verdict"]
    assert [(c["model"], c["rank"], c["chosen"], c["failed"]) for c in ev["candidates"]] == [
        (STRONG, 1, True, None),
        (WEAK, 2, False, None),
    ]
    assert ev["candidates"][1]["value"] == pytest.approx(world.valid[WEAK]["roc_auc"])
    html = storage.path(ev["report_uri"]).read_text()
    assert "<h2>Candidates</h2>" in html and WEAK in html and STRONG in html
    assert f"{world.valid[WEAK]['roc_auc']:.4f}" in html  # the other one's figures too


def test_a_failed_candidate_is_listed_while_the_other_is_evaluated(world: Trained) -> None:
    ev = evaluate_stage(world.cfg, world.dataset, "r2", [world.passed(WEAK), FAILED])
    d = _decision(ev)
    assert d["candidate"]["model"] == WEAK and ev["candidate_model"] == WEAK
    assert d["chosen"]["why"].endswith("1 failed: mlp_wide at retrain")
    (failed,) = [r for r in d["candidates"] if r["failed"]]
    assert failed["model"] == "mlp_wide" and failed["failed"] == FAILED["failed"]
    assert failed["rank"] is None and failed["export_uri"] is None and not failed["chosen"]
    assert {"model": "mlp_wide", "rank": None, "chosen": False, "value": None,
            "failed": "retrain"} in ev["candidates"]  # fmt: skip
    html = storage.path(ev["report_uri"]).read_text()
    assert "mlp_wide" in html and "retrain" in html and "ValueError: loss is NaN" in html


def test_one_candidate_decides_as_before_and_reuse_follows_the_set(world: Trained) -> None:
    bare = evaluate_stage(world.cfg, world.dataset, "r3", world.exports[STRONG])
    d = _decision(bare)
    alone, _ = evaluate(world.cfg, describe(world.exports[STRONG]["uri"]), None, TRIGGER, "x")
    assert _gated(d) == _gated(alone)
    assert [r["model"] for r in d["candidates"]] == [STRONG] and d["chosen"]["model"] == STRONG
    assert d["chosen"]["why"].startswith("the only candidate that passed (validation roc_auc")
    listed = evaluate_stage(world.cfg, world.dataset, "r4", [world.passed(STRONG)])
    assert listed["reused"] and listed["decision_uri"] == bare["decision_uri"]  # the same set
    pair = [world.passed(WEAK), world.passed(STRONG)]
    first = evaluate_stage(world.cfg, world.dataset, "r5", pair)
    again = evaluate_stage(world.cfg, world.dataset, "r6", list(reversed(pair)))
    assert again["reused"] and again["decision_uri"] == first["decision_uri"]
    assert again["candidates"] == first["candidates"]
    with_failure = evaluate_stage(world.cfg, world.dataset, "r7", [*pair, FAILED])
    assert not with_failure["reused"] and with_failure["decision_uri"] != first["decision_uri"]
    assert with_failure["candidate_model"] == STRONG
