"""Evaluation metrics with row weights, so one scoring serves the point estimate (all weights 1)
and every bootstrap resample (weights = how often each row was drawn).

Binary: precision, recall, F1 and ROC AUC of the positive class. More classes: their macro
(one-vs-rest) averages. Balanced accuracy: the mean recall of every class. ROC AUC is the
Mann-Whitney statistic with ties counted half, computed in O(rows) per resample from one sort
done up front; with unit weights it equals scikit-learn's ``roc_auc_score`` (a test holds them
together). A metric of a class the rows do not hold (ROC AUC, F1, balanced accuracy) is NaN:
it cannot be computed, so a gate on it fails closed.

The predicted class is the argmax, or for two classes the positive one when its probability
reaches ``threshold`` (:func:`predicted_classes`); accuracy, F1 and the confusion counts
follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from r2p.calibration import predicted_classes
from r2p.config.schema import LOWER_IS_BETTER, Gates

EPS = 1e-15


@dataclass
class _Auc:
    """One one-vs-rest AUC problem: each row's score group (ties share one, ascending), offset
    by the group count for positives, so one ``bincount`` gives both classes' weights."""

    keys: np.ndarray
    n_groups: int

    @classmethod
    def of(cls, scores: np.ndarray, positive: np.ndarray) -> _Auc:
        uniq, groups = np.unique(scores, return_inverse=True)
        return cls(groups + len(uniq) * positive.astype(np.int64), len(uniq))

    def value(self, w: np.ndarray) -> float:
        both = np.bincount(self.keys, weights=w, minlength=2 * self.n_groups)
        neg, pos = both[: self.n_groups], both[self.n_groups :]
        total = pos.sum() * neg.sum()
        if total <= 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float(pos @ (below + 0.5 * neg) / total)


def f1_score(tp: float, fp: float, fn: float) -> float:
    """F1 of one class from its (weighted) counts; NaN when the rows hold none of the class
    (``tp + fn == 0``): no F1 can be computed then."""
    if tp + fn <= 0:
        return float("nan")
    return float(2 * tp / (2 * tp + fp + fn))


@dataclass
class Scored:
    """One model's probabilities on the evaluation rows, prepared for weighted metrics;
    ``threshold`` (two classes only): the positive class's operating point (None: argmax)."""

    proba: np.ndarray
    y: np.ndarray
    n_classes: int
    positive: int | None
    threshold: float | None = None
    pred: np.ndarray = field(init=False)
    _loss: np.ndarray = field(init=False)
    _correct: np.ndarray = field(init=False)
    _actual: np.ndarray = field(init=False)  # rows x classes: one-hot labels
    _counts: list[np.ndarray] = field(init=False)  # per class: rows x (tp, fp, fn) indicators
    _aucs: list[_Auc] = field(init=False)

    def __post_init__(self) -> None:
        raw = np.asarray(self.proba, np.float64)
        p = np.clip(raw, EPS, 1.0)
        p /= p.sum(axis=1, keepdims=True)
        self.proba = p
        self.pred = predicted_classes(p, self.positive, self.threshold)
        self._loss = -np.log(p[np.arange(len(self.y)), self.y])
        self._correct = (self.pred == self.y).astype(np.float64)
        self._actual = (self.y[:, None] == np.arange(self.n_classes)).astype(np.float64)
        self._counts = []
        for k in self.classes_scored:
            predicted, actual = self.pred == k, self.y == k
            self._counts.append(
                np.stack(
                    [predicted & actual, predicted & ~actual, ~predicted & actual], axis=1
                ).astype(np.float64)
            )
        self._aucs = [_Auc.of(raw[:, k], self.y == k) for k in self.classes_scored]

    @property
    def classes_scored(self) -> list[int]:
        """The classes the averaged metrics run over: the positive one, or all of them."""
        return [self.positive] if self.positive is not None else list(range(self.n_classes))

    def values(self, w: np.ndarray | None = None) -> dict[str, float]:
        """Every metric under row weights ``w`` (None: every row once)."""
        w = np.ones(len(self.y)) if w is None else w
        total = w.sum()
        precision, recall, f1 = [], [], []
        for counts in self._counts:
            tp, fp, fn = w @ counts
            precision.append(tp / (tp + fp) if tp + fp > 0 else 0.0)
            recall.append(tp / (tp + fn) if tp + fn > 0 else 0.0)
            f1.append(f1_score(tp, fp, fn))
        support = w @ self._actual
        hits = (w * self._correct) @ self._actual
        return {
            "accuracy": float(w @ self._correct / total),
            "log_loss": float(w @ self._loss / total),
            "precision": float(np.mean(precision)),
            "recall": float(np.mean(recall)),
            "f1": float(np.mean(f1)),
            "roc_auc": float(np.mean([a.value(w) for a in self._aucs])),
            "balanced_accuracy": float(np.mean(hits / support))
            if np.all(support > 0)
            else float("nan"),
        }

    def shares(self) -> tuple[np.ndarray, np.ndarray]:
        """(each class's share of the predictions, its share of the labels)."""
        n = max(len(self.y), 1)
        predicted_share = np.bincount(self.pred, minlength=self.n_classes) / n
        return predicted_share, self._actual.sum(axis=0) / n


def improvement(metric: str, challenger: float, incumbent: float) -> float:
    """How much better ``challenger`` is than ``incumbent`` (positive = better)."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    return sign * (challenger - incumbent)


def passes_floor(metric: str, value: float, floor: float) -> bool:
    """A floor is a minimum, or a maximum for a lower-is-better metric (NaN never passes)."""
    if not np.isfinite(value):
        return False
    return value <= floor if metric in LOWER_IS_BETTER else value >= floor


@dataclass(frozen=True)
class Bootstrap:
    """Per-resample metric values of several models on the same resampled rows (paired)."""

    samples: dict[str, dict[str, np.ndarray]]  # model -> metric -> (B,) values
    seconds: float

    def delta(self, metric: str, challenger: str, incumbent: str) -> np.ndarray:
        """The challenger's improvement over the incumbent in each resample."""
        return improvement(
            metric, self.samples[challenger][metric], self.samples[incumbent][metric]
        )


def paired_bootstrap(models: dict[str, Scored], samples: int, seed: int) -> Bootstrap:
    """Resample the rows ``samples`` times (with replacement, one draw shared by all models)."""
    import time

    start = time.perf_counter()
    n = len(next(iter(models.values())).y)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[float]]] = {m: {} for m in models}
    for _ in range(samples):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        for name, scored in models.items():
            for metric, value in scored.values(w).items():
                out[name].setdefault(metric, []).append(value)
    arrays = {m: {k: np.asarray(v) for k, v in ms.items()} for m, ms in out.items()}
    return Bootstrap(arrays, time.perf_counter() - start)


def interval(values: np.ndarray, confidence: float) -> dict[str, float]:
    """Two-sided percentile interval, the one-sided lower bound, and the NaN share."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        nan = float("nan")
        return {"low": nan, "high": nan, "lower_bound": nan, "nan_fraction": 1.0}
    tail = (1 - confidence) / 2
    return {
        "low": float(np.quantile(finite, tail)),
        "high": float(np.quantile(finite, 1 - tail)),
        "lower_bound": float(np.quantile(finite, 1 - confidence)),
        "nan_fraction": float(1 - len(finite) / len(values)),
    }


@dataclass
class Measured:
    """Point metrics, the paired-bootstrap intervals of the differences, and the bootstrap."""

    point: dict[str, dict[str, float]]  # model -> every metric
    shown: dict[str, dict[str, float]]  # model -> the metrics the gates name (decision.json)
    deltas: dict[str, dict[str, Any]]  # vs_baseline, vs_champion -> metric -> interval
    boot: Bootstrap


def gated(gates: Gates) -> list[str]:
    """Every metric a gate reads: the reported ones, the floors, the improvement metric and
    the guards (each must be computable, or the evaluation fails closed)."""
    named = {gates.improvement.metric, *gates.metrics, *gates.floors, *gates.guard}
    return sorted(named)


def measure(gates: Gates, scored: dict[str, Scored]) -> Measured:
    """Every model's metrics, and the candidate's gains over the baseline and the champion
    (when scored) on the same resampled rows."""
    imp = gates.improvement
    names = gated(gates)
    point = {k: s.values() for k, s in scored.items()}
    boot = paired_bootstrap(scored, imp.bootstrap_samples, imp.seed)
    deltas = {"vs_baseline": deltas_of(names, boot, point, "baseline", imp.confidence)}
    if "champion" in scored:
        deltas["vs_champion"] = deltas_of(names, boot, point, "champion", imp.confidence)
    shown = {k: {m: v[m] for m in names} for k, v in point.items()}
    return Measured(point, shown, deltas, boot)


def deltas_of(
    metrics: list[str], boot: Bootstrap, point: dict, incumbent: str, conf: float
) -> dict[str, dict[str, float]]:
    """Per metric: the candidate minus ``incumbent`` with its interval, and the improvement's
    interval, one-sided lower bound and the share of resamples where it is not better."""
    out = {}
    for m in metrics:
        raw = boot.samples["candidate"][m] - boot.samples[incumbent][m]
        gain = boot.delta(m, "candidate", incumbent)
        ci, imp = interval(raw, conf), interval(gain, conf)
        out[m] = {
            "delta": point["candidate"][m] - point[incumbent][m],
            "low": ci["low"],
            "high": ci["high"],
            "improvement": improvement(m, point["candidate"][m], point[incumbent][m]),
            "improvement_lower_bound": imp["lower_bound"],
            "improvement_low": imp["low"],
            "improvement_high": imp["high"],
            "p_not_better": float(np.mean(gain <= 0)),
            "nan_fraction": ci["nan_fraction"],
        }
    return out


def improvement_ci(delta: dict[str, Any]) -> dict[str, float]:
    """The improvement's interval and one-sided lower bound, as the gates read them."""
    return {
        "low": delta["improvement_low"],
        "high": delta["improvement_high"],
        "lower_bound": delta["improvement_lower_bound"],
    }
