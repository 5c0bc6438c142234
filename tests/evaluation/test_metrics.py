"""Weighted metrics equal scikit-learn's, and the paired bootstrap behaves like one."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from r2p.evaluation.metrics import Scored, interval, paired_bootstrap, passes_floor


def _data(n: int, k: int, seed: int = 0, signal: float = 0.8, ties: bool = True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += signal
    if ties:
        logits = np.round(logits, 1)  # many tied scores: ties count half in AUC
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True), y


@pytest.mark.parametrize("k", [2, 3, 5])
def test_unit_weights_equal_sklearn(k: int) -> None:
    p, y = _data(5000, k)
    s = Scored(p, y, k, 1 if k == 2 else None).values()
    pred = p.argmax(1)
    avg = "binary" if k == 2 else "macro"
    ref = {
        "accuracy": accuracy_score(y, pred),
        "log_loss": log_loss(y, p),
        "f1": f1_score(y, pred, average=avg),
        "precision": precision_score(y, pred, average=avg),
        "recall": recall_score(y, pred, average=avg),
        "roc_auc": roc_auc_score(y, p[:, 1])
        if k == 2
        else roc_auc_score(y, p, multi_class="ovr", average="macro"),
    }
    for name, value in ref.items():
        assert s[name] == pytest.approx(value, abs=1e-9), name


def test_integer_weights_equal_repeating_rows() -> None:
    p, y = _data(400, 2, seed=3)
    rng = np.random.default_rng(1)
    w = np.bincount(rng.integers(0, 400, 400), minlength=400).astype(float)
    rep = np.repeat(np.arange(400), w.astype(int))
    weighted = Scored(p, y, 2, 1).values(w)
    repeated = Scored(p[rep], y[rep], 2, 1).values()
    for name in weighted:
        assert weighted[name] == pytest.approx(repeated[name], abs=1e-9), name


def test_one_class_auc_is_nan_and_never_passes_a_floor() -> None:
    p, _ = _data(100, 2)
    s = Scored(p, np.zeros(100, int), 2, 1).values()
    assert np.isnan(s["roc_auc"]) and not passes_floor("roc_auc", s["roc_auc"], 0.0)
    assert passes_floor("log_loss", 0.3, 0.5) and not passes_floor("log_loss", 0.6, 0.5)


def test_paired_bootstrap_is_seeded_and_pairs_rows() -> None:
    p, y = _data(2000, 2, seed=5)
    a, b = Scored(p, y, 2, 1), Scored(p, y, 2, 1)
    one = paired_bootstrap({"a": a, "b": b}, 200, seed=9)
    two = paired_bootstrap({"a": a, "b": b}, 200, seed=9)
    assert np.array_equal(one.samples["a"]["roc_auc"], two.samples["a"]["roc_auc"])
    # the same model twice: paired deltas are exactly zero on every resample
    assert np.all(one.delta("roc_auc", "a", "b") == 0)
    assert np.all(one.delta("log_loss", "a", "b") == 0)


def test_bootstrap_interval_covers_a_real_difference() -> None:
    p_good, y = _data(3000, 2, seed=7, signal=1.5, ties=False)
    noise = np.random.default_rng(2).normal(scale=2.0, size=p_good.shape)
    p_bad = np.exp(np.log(p_good) + noise)
    p_bad /= p_bad.sum(1, keepdims=True)
    boot = paired_bootstrap(
        {"good": Scored(p_good, y, 2, 1), "bad": Scored(p_bad, y, 2, 1)}, 300, 0
    )
    ci = interval(boot.delta("roc_auc", "good", "bad"), 0.95)
    assert ci["low"] > 0 and ci["lower_bound"] > ci["low"] and ci["nan_fraction"] == 0
    worse = interval(boot.delta("log_loss", "bad", "good"), 0.95)  # lower is better: negative
    assert worse["high"] < 0
