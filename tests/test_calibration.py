"""Calibration and the operating threshold (``r2p.calibration``): fitted on hand-made
validation logits whose true calibration is known, thresholds against brute force, and the
config and data errors that name their key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from r2p.calibration import (
    Calibration,
    ThresholdError,
    choose_threshold,
    fit_calibration,
    labels,
    reliability,
    softmax,
    uncalibrated,
)
from r2p.config import ConfigError, load_config
from r2p.config.schema import Evaluation

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CLASSES = ["retained", "churned"]


def _binary(n: int = 4000, slope: float = 2.0, intercept: float = -1.0, seed: int = 0):
    """Logits whose positive class is truly sigmoid(slope * z + intercept)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(slope * z + intercept)))).astype(int)
    return np.stack([np.zeros(n), z], axis=1), y


def test_platt_recovers_slope_and_intercept_and_lowers_log_loss() -> None:
    logits, y = _binary()
    cal = fit_calibration(logits, y, CLASSES, 1, Evaluation())
    assert cal.method == "platt"
    assert cal.scale == pytest.approx(2.0, abs=0.2) and cal.bias[1] == pytest.approx(-1, abs=0.15)
    assert cal.fit["log_loss_after"] < cal.fit["log_loss_before"]
    assert cal.fit["ece_after"] < cal.fit["ece_before"]
    # scikit-learn's unregularised logistic regression on the logit difference, within what
    # the prior on the slope moves at 4,000 rows
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e9, max_iter=1000).fit(logits[:, 1:] - logits[:, :1], y)
    np.testing.assert_allclose(
        cal.probabilities(logits)[:, 1], lr.predict_proba(logits[:, 1:])[:, 1], atol=5e-4
    )


def test_platt_when_the_positive_class_is_first() -> None:
    logits, y = _binary()
    cal = fit_calibration(logits[:, ::-1], 1 - y, CLASSES[::-1], 0, Evaluation())
    flipped = fit_calibration(logits, y, CLASSES, 1, Evaluation())
    np.testing.assert_allclose(
        cal.probabilities(logits[:, ::-1])[:, 0], flipped.probabilities(logits)[:, 1], atol=1e-6
    )
    assert cal.threshold == pytest.approx(flipped.threshold, abs=1e-6)


def test_temperature_recovers_an_overconfident_network() -> None:
    rng = np.random.default_rng(1)
    true = rng.normal(0, 1.0, (5000, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(true)])
    cal = fit_calibration(true * 3.0, y, ["a", "b", "c"], None, Evaluation())  # T = 3
    assert cal.method == "temperature" and cal.threshold is None and cal.positive is None
    assert cal.scale == pytest.approx(1 / 3, rel=0.1)
    assert cal.fit["log_loss_after"] < cal.fit["log_loss_before"]
    # temperature keeps each row's most probable class
    np.testing.assert_array_equal(cal.classes(cal.probabilities(true)), true.argmax(axis=1))


@pytest.mark.parametrize("calibration", ["platt", "temperature"])
def test_a_separable_split_gives_a_finite_scale(calibration) -> None:
    """Penguins-like: the network separates 40 validation rows perfectly. The plain log loss
    falls without end as the scale grows (its minimum at the search's bound, every
    probability 0 or 1); the prior on the scale stops it at a finite one."""
    z = np.r_[np.linspace(-6, -2, 20), np.linspace(2, 6, 20)]
    logits, y = np.stack([np.zeros(40), z], axis=1), np.r_[np.zeros(20), np.ones(20)].astype(int)
    cal = fit_calibration(logits, y, CLASSES, 1, Evaluation(calibration=calibration))
    top = cal.probabilities(logits).max(axis=1)
    assert np.isfinite(cal.scale) and 1 < cal.scale < 10  # more confident, within reason
    assert top.min() > 0.95 and top.max() < 1 - 1e-9
    assert cal.fit["log_loss_after"] < cal.fit["log_loss_before"]


def test_none_is_the_identity_and_argmax() -> None:
    logits, y = _binary()
    ev = Evaluation.model_validate({"calibration": "none", "threshold": {"optimize": "argmax"}})
    cal = fit_calibration(logits, y, CLASSES, 1, ev)
    np.testing.assert_allclose(cal.probabilities(logits), softmax(logits))
    assert cal.threshold is None and Calibration.from_json(cal.as_json()) == cal
    assert Calibration.from_json(None).method == "none"  # a contract from before calibration


def _brute(p: np.ndarray, actual: np.ndarray, score) -> float:
    """The best objective over every distinct threshold (the >= rule), by brute force."""
    best = -np.inf
    for t in np.r_[np.unique(p), np.inf]:
        pred = p >= t
        tp, fp = np.sum(pred & actual), np.sum(pred & ~actual)
        fn, tn = np.sum(~pred & actual), np.sum(~pred & ~actual)
        best = max(best, score(tp, fp, fn, tn))
    return best


@pytest.mark.parametrize(
    ("threshold", "score"),
    [
        pytest.param({"optimize": "f1"}, lambda tp, fp, fn, tn: 2 * tp / (2 * tp + fp + fn),
                     id="f1"),
        pytest.param({"optimize": "youden"},
                     lambda tp, fp, fn, tn: tp / (tp + fn) - fp / (fp + tn), id="youden"),
        pytest.param({"optimize": "cost", "cost_false_positive": 1, "cost_false_negative": 5},
                     lambda tp, fp, fn, tn: -(fp + 5 * fn), id="cost"),
    ],
)  # fmt: skip
def test_threshold_objectives_reach_the_brute_force_optimum(threshold, score) -> None:
    rng = np.random.default_rng(2)
    actual = rng.uniform(size=600) < 0.3
    p = np.clip(0.3 + 0.25 * actual + rng.normal(0, 0.2, 600), 0, 1).round(3)  # ties too
    ev = Evaluation.model_validate({"threshold": threshold})
    t, figs = choose_threshold(p, actual, ev, "churned")
    pred = p >= t
    tp, fp = np.sum(pred & actual), np.sum(pred & ~actual)
    fn, tn = np.sum(~pred & actual), np.sum(~pred & ~actual)
    assert score(tp, fp, fn, tn) == pytest.approx(_brute(p, actual, score))
    assert figs["false_positives"] == fp and figs["false_negatives"] == fn
    assert t == np.float32(t)  # the graph compares in float32


def test_precision_at_recall_reaches_the_recall() -> None:
    rng = np.random.default_rng(3)
    actual = rng.uniform(size=800) < 0.4
    p = np.clip(0.35 + 0.3 * actual + rng.normal(0, 0.2, 800), 0, 1)
    ev = Evaluation.model_validate({"threshold": {"optimize": "precision_at_recall",
                                                   "recall": 0.8}})  # fmt: skip
    _, figs = choose_threshold(p, actual, ev, "churned")
    assert figs["recall"] >= 0.8
    # the highest precision among thresholds reaching that recall
    best = max(np.mean(actual[p >= s]) for s in np.unique(p) if np.mean((p >= s)[actual]) >= 0.8)
    assert figs["precision"] == pytest.approx(best)


@pytest.mark.parametrize(
    ("optimize", "actual"),
    [
        pytest.param({"optimize": "f1"}, [False] * 20, id="f1-no-positive"),
        pytest.param({"optimize": "youden"}, [True] * 20, id="youden-no-negative"),
        pytest.param({"optimize": "cost", "cost_false_positive": 1, "cost_false_negative": 2},
                     [True] * 20, id="cost-no-negative"),
    ],
)  # fmt: skip
def test_an_objective_the_validation_split_cannot_serve_names_the_key(optimize, actual) -> None:
    ev = Evaluation.model_validate({"threshold": optimize})
    with pytest.raises(ThresholdError, match=r"evaluation\.threshold\.optimize: ") as err:
        choose_threshold(np.linspace(0, 1, 20), np.array(actual), ev, "churned")
    assert "validation split" in str(err.value) and "optimize: argmax" in str(err.value)


def _with(tmp_path: Path, evaluation: dict, config: str = "churn.yaml") -> Path:
    data = yaml.safe_load((CONFIGS / config).read_text())
    data["evaluation"] = evaluation
    path = tmp_path / config
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("evaluation", "config", "key", "message"),
    [
        pytest.param({"threshold": {"optimize": "precision_at_recall"}}, "churn.yaml",
                     "evaluation.threshold", "needs recall", id="recall-missing"),
        pytest.param({"threshold": {"optimize": "cost", "cost_false_positive": 1}}, "churn.yaml",
                     "evaluation.threshold", "needs cost_false_positive and", id="cost-missing"),
        pytest.param({"threshold": {"optimize": "f1", "recall": 0.9}}, "churn.yaml",
                     "evaluation.threshold", "['recall'] are read by another", id="stray-recall"),
        pytest.param({"threshold": {"optimize": "precision_at_recall", "recall": 1.5}},
                     "churn.yaml", "evaluation.threshold.recall", "less than or equal to 1",
                     id="recall-over-one"),
        pytest.param({"threshold": {"optimize": "accuracy"}}, "churn.yaml",
                     "evaluation.threshold.optimize", "'f1'", id="unknown-objective"),
        pytest.param({"calibration": "isotonic"}, "churn.yaml", "evaluation.calibration",
                     "'temperature'", id="unknown-calibration"),
        pytest.param({"calibration": "platt"}, "fleet.yaml", "",
                     "evaluation.calibration: platt is for two classes", id="platt-multiclass"),
    ],
)  # fmt: skip
def test_bad_evaluation_config_names_the_key(tmp_path, evaluation, config, key, message) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_with(tmp_path, evaluation, config))
    assert key in str(err.value) and message in str(err.value), str(err.value)


def test_reliability_and_the_network_behind_calibrated_probabilities() -> None:
    logits, y = _binary(slope=0.5, intercept=0.3)  # the raw network is overconfident
    cal = fit_calibration(logits, y, CLASSES, 1, Evaluation())
    after = cal.probabilities(logits)
    before = reliability(softmax(logits), y, 1)
    calibrated = reliability(after, y, 1)
    assert calibrated["ece"] < before["ece"] and calibrated["ece"] < 0.03
    assert sum(b["rows"] for b in calibrated["bins"]) == len(y)
    np.testing.assert_allclose(uncalibrated(after, cal.as_json()), softmax(logits), atol=1e-6)
    contract = {"classes": CLASSES, "calibration": cal.as_json()}
    said = labels(contract, after)
    assert said == [CLASSES[1] if p >= cal.threshold else CLASSES[0] for p in after[:, 1]]
