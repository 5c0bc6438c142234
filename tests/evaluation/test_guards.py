"""Guards on every metric that matters (issue 20, item 1), at the unit level: hand-made
probabilities on the same rows, gated by the evaluation's own steps. Each case names the
check and the metric that rejected the candidate, and the line a person is told."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from r2p.evaluation import gates as g
from r2p.evaluation import steps
from r2p.evaluation.metrics import Scored, measure

TRIGGER = {"run_type": "manual", "source_run_types": [], "promotable": True, "from_backfill": False}
N = 2000


def _rows(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A signal the logistic regression gets exactly right: y ~ Bernoulli(sigmoid(2x - 1))."""
    rng = np.random.default_rng(seed)
    logit = 2 * rng.normal(size=N) - 1
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    return logit, y


def _binary(logit: np.ndarray) -> np.ndarray:
    p = 1 / (1 + np.exp(-logit))
    return np.stack([1 - p, p], axis=1)


def _cfg(cfg: Any, **gates: Any) -> Any:
    """``cfg`` with these gates (validated) and a shorter bootstrap."""
    data = cfg.gates.model_dump()
    data["improvement"]["bootstrap_samples"] = 300
    return cfg.model_copy(update={"gates": type(cfg.gates).model_validate({**data, **gates})})


def _judge(cfg: Any, proba: dict[str, np.ndarray], y: np.ndarray) -> dict[str, Any]:
    """The decision's gated part, as ``steps.evaluate`` builds it once predictions exist."""
    n = proba["candidate"].shape[1]
    pos = 1 if n == 2 else None
    scored = {k: Scored(p, y, n, pos) for k, p in proba.items()}
    pred = steps.Predictions(scored, list(cfg.dataset.label.classes), {})
    m = measure(cfg.gates, scored)
    guards = steps.guards(cfg, m)
    checks = steps.gate_checks(cfg, TRIGGER, m, pred, guards)
    verdict, reason = g.verdict(checks)
    return {
        "verdict": verdict,
        "reason": reason,
        "checks": {c.name: c for c in checks},
        "guards": guards,
        "decided_by": g.decided_by(checks),
        "point": m.point,
    }


def test_baseline_better_on_log_loss_alone_is_caught_by_baseline_guard(churn) -> None:
    logit, y = _rows()
    # same ranking (ROC AUC equal), same argmax (accuracy, F1 equal), four times overconfident
    d = _judge(_cfg(churn), {"candidate": _binary(4 * logit), "baseline": _binary(logit)}, y)
    assert d["verdict"] == "reject" and d["reason"].startswith("baseline_guard: log_loss "), d
    assert d["checks"]["baseline"].passed  # the improvement metric alone would promote it
    cand, base = d["point"]["candidate"]["log_loss"], d["point"]["baseline"]["log_loss"]
    assert d["decided_by"] == {
        "check": "baseline_guard",
        "metric": "log_loss",
        "candidate": cand,
        "against": "baseline",
        "other": base,
    }
    rows = {r["metric"]: r for r in d["guards"]["vs_baseline"]}
    assert [r["metric"] for r in d["guards"]["vs_baseline"]] == ["log_loss", "accuracy", "f1"]
    assert not rows["log_loss"]["passed"] and rows["log_loss"]["high"] < 0
    assert rows["accuracy"]["passed"] and rows["f1"]["passed"]
    line = g.told(d["verdict"], d["reason"])
    assert line == (
        f"rejected: baseline_guard — log_loss {cand:.4f} vs baseline {base:.4f} (baseline better "
        f"with 95% confidence: improvement {base - cand:+.4f} [{rows['log_loss']['low']:+.4f}, "
        f"{rows['log_loss']['high']:+.4f}]); {g.NO_CHAMPION}"
    )


def test_churn_as_measured_roc_auc_equal_everything_else_worse(churn) -> None:
    """The issue's churn case: ROC AUC level with the baseline, accuracy, F1 and log loss
    worse. The guard names every metric it lost on; the first in ``gates.guard`` decides."""
    logit, y = _rows()
    proba = {"candidate": _binary(logit - 1.5), "baseline": _binary(logit)}
    d = _judge(_cfg(churn), proba, y)
    assert d["point"]["candidate"]["roc_auc"] == pytest.approx(d["point"]["baseline"]["roc_auc"])
    assert d["checks"]["baseline"].passed and d["checks"]["degenerate"].passed
    detail = d["checks"]["baseline_guard"].detail
    assert d["reason"].startswith("baseline_guard: log_loss")
    assert "accuracy" in detail and "f1" in detail and "held" not in detail
    f1_first = _judge(_cfg(churn, guard=["f1", "accuracy"]), proba, y)
    assert f1_first["reason"].startswith("baseline_guard: f1 ")
    assert f1_first["decided_by"]["metric"] == "f1"


def test_a_candidate_predicting_one_class_is_degenerate(churn) -> None:
    logit, y = _rows()
    flat = np.full(N, -1.0) + 0.01 * logit  # ranks rows well, always says "retained"
    d = _judge(_cfg(churn), {"candidate": _binary(flat), "baseline": _binary(logit)}, y)
    share = np.bincount(y)[0] / N
    assert d["reason"] == (
        f"degenerate: predicts 'retained' for 100.0% of {N} rows, {share:.1%} of the labels "
        "(degenerate: one class for at least 95% of the rows when the labels hold less)"
    )
    assert d["decided_by"]["class"] == "retained" and d["decided_by"]["candidate"] == 1.0
    assert g.told(d["verdict"], d["reason"], 3).startswith(
        "rejected: degenerate — predicts 'retained' for 100.0%"
    ) and g.told(d["verdict"], d["reason"], 3).endswith("; champion v3 kept")


def test_one_class_labels_are_not_degenerate_by_that_rule(churn) -> None:
    y = (np.arange(N) >= 60).astype(int)  # 97 % "churned"
    proba = {"candidate": _binary(np.full(N, 3.0)), "baseline": _binary(np.full(N, 3.0))}
    d = _judge(_cfg(churn), proba, y)
    assert d["checks"]["degenerate"].passed, d["checks"]["degenerate"].detail


def _champion_case() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Candidate: better ROC AUC than the champion but fewer positives found (F1 worse);
    the baseline is weak, so only the champion can catch it."""
    logit, y = _rows()
    rng = np.random.default_rng(1)
    noisy = logit + rng.normal(scale=1.0, size=N)
    weak = 0.3 * logit + rng.normal(scale=2.0, size=N)
    proba = {"candidate": _binary(logit - 0.8), "champion": _binary(noisy)}
    return {**proba, "baseline": _binary(weak)}, y


def test_champion_guard_catches_a_regression_the_primary_metric_hides(churn) -> None:
    proba, y = _champion_case()
    d = _judge(_cfg(churn), proba, y)
    assert d["checks"]["beats_champion"].passed and d["checks"]["baseline_guard"].passed
    assert d["reason"].startswith("champion_guard: f1 "), d["reason"]
    assert "worse than the champion with 95% confidence" in d["reason"]
    rows = {r["metric"]: r for r in d["guards"]["vs_champion"]}
    assert not rows["f1"]["passed"] and rows["f1"]["allowed"] == 0.0
    assert g.told(d["verdict"], d["reason"], 2).startswith("rejected: champion_guard — f1 ")


def test_max_regression_allows_a_bounded_loss(churn) -> None:
    proba, y = _champion_case()
    d = _judge(_cfg(churn, max_regression={"f1": 0.3}), proba, y)
    assert d["verdict"] == "promote", d["reason"]
    row = next(r for r in d["guards"]["vs_champion"] if r["metric"] == "f1")
    assert row["passed"] and row["allowed"] == 0.3 and row["high"] < 0


def test_baseline_ignore_reports_the_guards_only(churn) -> None:
    logit, y = _rows()
    proba = {"candidate": _binary(4 * logit), "baseline": _binary(logit)}
    d = _judge(_cfg(churn, baseline="ignore"), proba, y)
    check = d["checks"]["baseline_guard"]
    assert check.passed and "reported only (gates.baseline: ignore)" in check.detail
    assert "log_loss" in check.detail and d["verdict"] == "promote"


def test_one_class_in_the_window_fails_closed_naming_the_metrics(churn) -> None:
    logit, _ = _rows()
    y = np.zeros(N, int)
    d = _judge(_cfg(churn), {"candidate": _binary(logit), "baseline": _binary(logit)}, y)
    assert d["reason"].startswith(
        "metrics_computable: cannot compute f1, roc_auc on the evaluation rows (the rows hold "
        "no ['churned'] label)"
    )
    assert d["decided_by"] == {"check": "metrics_computable", "metric": "f1"}


def test_a_guard_without_an_interval_fails_closed_naming_it(churn) -> None:
    gates = churn.gates
    nan = float("nan")
    point = {"candidate": {"log_loss": 0.4, "accuracy": 0.8, "f1": 0.6},
             "baseline": {"log_loss": 0.5, "accuracy": 0.7, "f1": nan}}  # fmt: skip
    one = {"improvement": 0.1, "improvement_low": 0.05, "improvement_high": 0.15}
    deltas = {"log_loss": one, "accuracy": one, "f1": {**one, "improvement_high": nan}}
    check = g.guard_check(gates, g.guard_rows(gates, point, deltas, "baseline"), "baseline")
    assert not check.passed and check.detail.startswith("f1 0.6000 vs baseline not computable")
    assert "failing closed" in check.detail and check.figures["metric"] == "f1"


def test_multiclass_guard_is_macro_f1(fleet) -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, N)
    logits = rng.normal(size=(N, 3))
    logits[np.arange(N), y] += 1.5
    starved = logits.copy()
    starved[:, 2] -= 1.5  # rarely predicts breakdown: macro F1 falls, accuracy less so
    soft = lambda z: np.exp(z) / np.exp(z).sum(1, keepdims=True)  # noqa: E731
    proba = {"candidate": soft(starved), "baseline": soft(logits)}
    check = _judge(_cfg(fleet, guard=["f1"]), proba, y)["checks"]["baseline_guard"]
    assert not check.passed and check.detail.startswith("f1 ") and check.figures["metric"] == "f1"


@pytest.mark.parametrize("k", [2, 3])
def test_balanced_accuracy_equals_sklearn_and_f1_needs_the_class(k: int) -> None:
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 500)
    p = rng.dirichlet(np.ones(k), 500)
    s = Scored(p, y, k, 1 if k == 2 else None)
    assert s.values()["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(y, p.argmax(1)), abs=1e-12
    )
    without = Scored(p, np.zeros(500, int), k, 1 if k == 2 else None).values()
    assert np.isnan(without["f1"]) and np.isnan(without["balanced_accuracy"])


def test_a_threshold_moves_the_predicted_class() -> None:
    rng = np.random.default_rng(5)
    p1 = rng.random(400)
    proba, y = np.stack([1 - p1, p1], 1), rng.integers(0, 2, 400)
    assert np.array_equal(Scored(proba, y, 2, 1).pred, proba.argmax(1))
    low = Scored(proba, y, 2, 1, threshold=0.2)
    assert np.array_equal(low.pred, (p1 >= 0.2).astype(int))
    assert low.values()["f1"] != Scored(proba, y, 2, 1).values()["f1"]


@pytest.mark.parametrize(
    ("verdict", "reason", "version", "line"),
    [
        pytest.param("reject", "beats_champion: roc_auc 0.8000 vs champion 0.8100 (not "
                     "better with 95% confidence); improvement ...", 4,
                     "rejected: beats_champion — roc_auc 0.8000 vs champion 0.8100 (not better "
                     "with 95% confidence); champion v4 kept", id="champion-kept"),
        pytest.param("reject", "first_run_policy: no champion yet and gates.first_run is "
                     "'manual': promote it with `r2p promotion force`", None,
                     "rejected: first_run_policy — no champion yet and gates.first_run is "
                     "'manual': promote it with `r2p promotion force`", id="first-run-manual"),
        pytest.param("not_evaluated", "eval_size: too few", None,
                     f"not evaluated: eval_size — too few; {g.NO_CHAMPION}", id="first-run"),
        pytest.param("promote", "every gate passed", 1, "promoted: every gate passed",
                     id="promoted"),
    ],
)  # fmt: skip
def test_told_names_the_check_its_figures_and_the_champion(verdict, reason, version, line):
    assert g.told(verdict, reason, version) == line
