"""Calibrated probabilities and the operating threshold, both fitted on the validation split.

A calibration maps a model's logits ``l`` to ``scale * l + bias`` (``bias`` one value per
class) before the softmax: temperature scaling is ``scale = 1 / T`` and no bias; Platt scaling
(two classes) is a slope and an intercept on the logit difference, written as ``scale`` and
the intercept on the positive class's bias. Both are constants the export bakes into the
graph, so the ``.pb``, the SavedModel and the server give the same calibrated probabilities.

The threshold (two classes) is the calibrated probability of the positive class from which a
row is labelled positive, chosen on the validation split by ``evaluation.threshold``; with
more classes the label is the most probable class. :func:`predicted_classes` is the one rule,
used by the graph's ``class_index`` output, the server, the parity gate and the evaluation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from r2p.config.schema import Evaluation
from r2p.errors import DataError

RELIABILITY_BINS = 10
CALIBRATION = "calibration.json"  # in the retrain commit: what the export bakes into the graph


class ThresholdError(DataError):
    """The threshold objective needs rows the validation split does not have."""


def predicted_classes(
    proba: np.ndarray, positive: int | None, threshold: float | None
) -> np.ndarray:
    """Each row's predicted class: the argmax, or (two classes, a ``threshold``) ``positive``
    when its probability is at least ``threshold`` and the other class otherwise."""
    if threshold is None or positive is None or proba.shape[1] != 2:
        return proba.argmax(axis=1)
    return np.where(proba[:, positive] >= threshold, positive, 1 - positive)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


@dataclass
class Calibration:
    """What the graph applies after the network: ``scale * logits + bias``, then the
    threshold rule. ``fit`` holds the validation figures that chose them."""

    method: str  # none | temperature | platt
    scale: float = 1.0
    bias: list[float] = field(default_factory=list)
    positive: int | None = None
    threshold: float | None = None  # of the positive class's calibrated probability
    optimize: str | None = None
    fit: dict[str, Any] = field(default_factory=dict)

    def logits(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, np.float64)
        bias = np.asarray(self.bias or [0.0] * raw.shape[1], np.float64)
        return raw * self.scale + bias

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        return softmax(self.logits(raw))

    def classes(self, proba: np.ndarray) -> np.ndarray:
        return predicted_classes(proba, self.positive, self.threshold)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Calibration:
        """The calibration a record holds; none (identity, argmax) for records from before
        models were calibrated."""
        return cls(**data) if data else cls("none")


def fit_calibration(
    logits: np.ndarray,
    y: np.ndarray,
    classes: list[str],
    positive: int | None,
    settings: Evaluation,
) -> Calibration:
    """The calibration and threshold of a model whose validation logits are ``logits``."""
    n = logits.shape[1]
    method = settings.calibration
    if method == "auto":
        method = "platt" if n == 2 else "temperature"
    logits = np.asarray(logits, np.float64)
    cal = Calibration(method, bias=[0.0] * n, positive=positive if n == 2 else None)
    if method == "temperature" and len(y):
        cal.scale = _temperature(logits, y)
    elif method == "platt" and len(np.unique(y)) == 2:
        cal.scale, cal.bias = _platt(logits, y, positive if positive is not None else 1)
    before, after = softmax(logits), cal.probabilities(logits)
    cal.fit = {
        "rows": len(y),
        "log_loss_before": _nll(logits, y) if len(y) else None,
        "log_loss_after": _nll(cal.logits(logits), y) if len(y) else None,
        "ece_before": reliability(before, y, positive)["ece"],
        "ece_after": reliability(after, y, positive)["ece"],
    }
    if n == 2 and settings.threshold.optimize != "argmax":
        pos = positive if positive is not None else 1
        cal.threshold, figures = choose_threshold(after[:, pos], y == pos, settings, classes[pos])
        cal.optimize = settings.threshold.optimize
        cal.fit["threshold"] = figures
    return cal


# Both fits are maximum a posteriori with a standard normal prior on the log of the scale,
# centred on the network as trained (scale 1): ``u**2 / (2 * n)`` beside the mean log loss.
# On a validation split the network separates perfectly (a small, easy table) the plain log
# loss keeps falling as the scale grows, so its minimum is at the search's bound and every
# probability is 0 or 1; the prior stops the scale where the rows stop paying for more
# confidence, and fades as the split grows (no effect worth a digit at thousands of rows).


def _temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """``1 / T`` minimising the validation log loss plus the prior on ``log(1 / T)`` (a
    bounded 1-D search on log scale)."""
    from scipy.optimize import minimize_scalar

    n = max(len(y), 1)
    best = minimize_scalar(
        lambda u: _nll(logits * np.exp(u), y) + u * u / (2 * n),
        bounds=(-5.0, 5.0),
        method="bounded",
    )
    return float(np.exp(best.x))


def _platt(logits: np.ndarray, y: np.ndarray, positive: int) -> tuple[float, list[float]]:
    """Slope and intercept of a logistic regression on the logit difference: the slope
    ``exp(u)`` (positive: calibration never turns a model's ranking round) with the prior on
    ``u``, the intercept free."""
    from scipy.optimize import minimize

    z = logits[:, positive] - logits[:, 1 - positive]
    t = (y == positive).astype(np.float64)
    n = max(len(y), 1)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        slope = np.exp(w[0])
        s = slope * z + w[1]
        # log(1 + e^s) - t*s, stable; its gradient is (sigmoid(s) - t) * (slope * z, 1)
        value = np.mean(np.logaddexp(0.0, s) - t * s) + w[0] ** 2 / (2 * n)
        g = 1.0 / (1.0 + np.exp(-s)) - t
        return float(value), np.array([np.mean(g * z) * slope + w[0] / n, np.mean(g)])

    w = minimize(loss, np.array([0.0, 0.0]), jac=True, method="L-BFGS-B").x
    bias = [0.0, 0.0]
    bias[positive] = float(w[1])
    return float(np.exp(w[0])), bias


def _counts(p: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, ...]:
    """For every cut between distinct scores (labelling the top ones positive): the
    threshold, true positives and false positives; the first cut labels nothing positive."""
    order = np.argsort(-p, kind="stable")
    ps, act = p[order], actual[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(ps) != 0), len(ps) - 1]  # last row of each score
    tp = np.r_[0.0, np.cumsum(act)[last]]
    fp = np.r_[0.0, np.cumsum(1 - act)[last]]
    values = ps[last]
    # between two distinct scores: their midpoint; nothing positive: above the top score
    below = np.r_[values[1:], values[-1]]
    cuts = np.r_[(1.0 + values[0]) / 2 if values[0] < 1 else 1.0, (values + below) / 2]
    cuts[-1] = values[-1]
    return cuts, tp, fp


def choose_threshold(
    p: np.ndarray, actual: np.ndarray, settings: Evaluation, positive_name: str
) -> tuple[float, dict[str, Any]]:
    """The threshold ``settings.threshold`` asks for, and its figures on these rows."""
    opt = settings.threshold
    pos, neg = int(actual.sum()), int((~actual).sum())
    if pos == 0 or (opt.optimize in ("youden", "cost") and neg == 0):
        lacking = f"{positive_name!r}" if pos == 0 else f"other than {positive_name!r}"
        raise ThresholdError(
            f"evaluation.threshold.optimize: {opt.optimize} needs rows of class {lacking} in "
            f"the validation split, which has {pos} positive and {neg} other row(s): widen "
            "training.split.valid_days (or training.window_days), or set "
            "evaluation.threshold.optimize: argmax"
        )
    cuts, tp, fp = _counts(np.asarray(p, np.float64), np.asarray(actual, bool))
    fn, tn = pos - tp, neg - fp
    recall = tp / pos
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        f1 = np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    if opt.optimize == "f1":
        score = f1
    elif opt.optimize == "youden":
        score = recall - fp / neg
    elif opt.optimize == "precision_at_recall":
        score = np.where(recall >= opt.recall - 1e-12, precision, -np.inf)
    else:
        score = -(opt.cost_false_positive * fp + opt.cost_false_negative * fn)
    # ties: the cut closest to 0.5, so an objective flat over a range keeps the usual rule
    best = int(np.lexsort((np.abs(cuts - 0.5), -score))[0])
    threshold = float(np.float32(cuts[best]))  # the graph compares in float32
    figures = {
        "optimize": opt.optimize,
        "value": threshold,
        "objective": float(score[best]),
        "precision": float(precision[best]),
        "recall": float(recall[best]),
        "f1": float(f1[best]),
        "false_positives": int(fp[best]),
        "false_negatives": int(fn[best]),
        "true_negatives": int(tn[best]),
        "rows": pos + neg,
    }
    return threshold, figures


def reliability(
    proba: np.ndarray, y: np.ndarray, positive: int | None, bins: int = RELIABILITY_BINS
) -> dict[str, Any]:
    """A reliability diagram's bins and the expected calibration error: two classes, the
    positive class's probability against how often it is the label; more classes, the top
    class's probability against how often it is right."""
    proba = np.asarray(proba, np.float64)
    if proba.shape[1] == 2:
        k = positive if positive is not None else 1
        conf, hit = proba[:, k], (y == k)
    else:
        conf, hit = proba.max(axis=1), proba.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    out, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        c, f = float(conf[mask].mean()), float(hit[mask].mean())
        out.append({"low": float(edges[b]), "high": float(edges[b + 1]),
                    "rows": int(mask.sum()), "confidence": c, "frequency": f})  # fmt: skip
        ece += mask.mean() * abs(c - f)
    return {"bins": out, "ece": float(ece) if len(y) else None,
            "kind": "positive class" if proba.shape[1] == 2 else "top class"}  # fmt: skip


def uncalibrated(proba: np.ndarray, calibration: dict[str, Any] | None) -> np.ndarray:
    """The network's own probabilities behind calibrated ones: the logits up to a constant
    per row are ``(log p - bias) / scale``, and the softmax ignores that constant."""
    cal = Calibration.from_json(calibration)
    if cal.method == "none" or cal.scale == 0:
        return np.asarray(proba, np.float64)
    logp = np.log(np.clip(np.asarray(proba, np.float64), 1e-300, 1.0))
    return softmax((logp - np.asarray(cal.bias, np.float64)) / cal.scale)


def labels(contract: dict[str, Any], proba: np.ndarray) -> list[str]:
    """Each row's label as the exported model gives it (its threshold, or the argmax)."""
    cal = Calibration.from_json(contract.get("calibration"))
    classes = contract["classes"]
    return [classes[int(i)] for i in cal.classes(proba)]
