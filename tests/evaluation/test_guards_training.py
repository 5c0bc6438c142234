"""A real, small training where the logistic regression is better (issue 20, item 6): churn's
sample data (a nearly linear signal), a deliberately tiny and under-trained network (two
units, five epochs), trained, exported and evaluated through the real stages. It is rejected
by the guard that caught it, named, and every guard metric it lost on is in the decision."""

from __future__ import annotations

from typing import Any

import pytest

from r2p.evaluation import gates as g
from r2p.evaluation.stage import evaluate
from r2p.export.lineage import describe
from tests.promotion.conftest import TRIGGER

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("built", ["churn"], indirect=True)]


def train_starved(built, evaluation: dict[str, Any]) -> tuple[Any, dict]:
    """(cfg, decision) of a two-unit network trained for five epochs, evaluated against the
    logistic-regression baseline with the shipped gates (a window of 50 rows is enough)."""
    from r2p.config.schema import Evaluation
    from r2p.export.stage import export_stage
    from r2p.training.stage import prototype_stage, retrain_stage

    cfg, dataset, _, _ = built
    cfg = cfg.model_copy(update={"evaluation": Evaluation.model_validate(evaluation)})
    tiny = cfg.models[0].layers[-1].model_copy(update={"units": 2, "dropout": 0.0})
    spec = cfg.models[0].model_copy(
        update={"name": "starved", "layers": [tiny], "epochs": 5, "learning_rate": 0.01}
    )
    gates = cfg.gates.model_copy(update={"min_eval_rows": 50})
    cfg = cfg.model_copy(update={"models": [spec], "gates": gates})
    dataset = {**dataset, "trigger": TRIGGER}
    proto = prototype_stage(cfg, dataset, "starved", model=spec.name)
    model = retrain_stage(cfg, dataset, "starved", proto, TRIGGER, model=spec.name)
    export = export_stage(cfg, dataset, "starved", model)
    decision, _ = evaluate(cfg, describe(export["uri"]), None, TRIGGER, "starved")
    return cfg, decision


@pytest.fixture(scope="module")
def starved(built) -> tuple[Any, dict]:
    """Uncalibrated and labelled at the argmax: it says one class for every row."""
    return train_starved(built, {"calibration": "none", "threshold": {"optimize": "argmax"}})


@pytest.fixture(scope="module")
def starved_calibrated(built) -> tuple[Any, dict]:
    """The shipped calibration and F1 threshold: no longer one class, still beaten."""
    return train_starved(built, {})


def test_the_starved_network_is_rejected_by_the_guard_that_caught_it(starved) -> None:
    _, d = starved
    checks = {c["name"]: c for c in d["checks"]}
    assert d["verdict"] == "reject", d["reason"]
    # it says "retained" for (almost) every row while a third of the labels are "churned"
    assert d["reason"].startswith("degenerate: predicts 'retained' for "), d["reason"]
    assert d["decided_by"]["check"] == "degenerate" and d["decided_by"]["class"] == "retained"
    assert d["decided_by"]["candidate"] >= 0.95 > d["decided_by"]["other"]
    told = g.told(d["verdict"], d["reason"], None)
    assert told.startswith("rejected: degenerate — predicts 'retained' for ")
    assert told.endswith(g.NO_CHAMPION)
    # the baseline beats it with confidence on the guard metrics too: each one named
    assert not checks["baseline_guard"].get("passed")
    lost = {r["metric"] for r in d["guards"]["vs_baseline"] if not r["passed"]}
    assert {"accuracy", "f1"} <= lost, d["guards"]
    assert checks["baseline_guard"]["figures"]["metric"] in lost
    base = d["metrics"]["baseline"]
    assert base["accuracy"] > d["metrics"]["candidate"]["accuracy"]  # the premise: LR is better
    assert base["f1"] > d["metrics"]["candidate"]["f1"]


def test_the_report_shows_every_guard_and_what_decided(starved) -> None:
    from r2p.evaluation.report import render

    _, d = starved
    page = render(d, {})
    assert "<h2>Guards</h2>" in page and "Decided by: <b>degenerate</b>" in page
    for metric in d["thresholds"]["guard"]:
        assert f'<td class="l">{metric}</td>' in page
    assert "FAILED" in page


def test_calibrated_and_thresholded_it_is_still_rejected_by_the_baseline(
    starved_calibrated,
) -> None:
    """Calibration and a threshold chosen on validation make it label both classes, so it is
    not degenerate any more; the baseline (at its own F1 threshold) still beats it with
    confidence, and the guards name the metrics it lost on."""
    _, d = starved_calibrated
    checks = {c["name"]: c for c in d["checks"]}
    assert d["verdict"] == "reject", d["reason"]
    assert checks["degenerate"]["passed"], checks["degenerate"]
    assert d["decided_by"]["check"] in ("baseline", "baseline_guard"), d["decided_by"]
    assert not checks["baseline_guard"]["passed"]
    lost = {r["metric"] for r in d["guards"]["vs_baseline"] if not r["passed"]}
    assert lost and checks["baseline_guard"]["figures"]["metric"] in lost
    cal = d["calibration"]
    assert cal["method"] == "platt" and cal["optimize"] == "f1"
    ops = d["operating_thresholds"]
    assert ops["candidate"] == cal["threshold"] and ops["baseline"] is not None
