"""Curves and tables for the report: ROC and precision-recall per scored class, the confusion
matrix and per-class metrics, thinned to a few hundred points so the page stays small."""

from __future__ import annotations

from typing import Any

import numpy as np

from r2p.evaluation.metrics import Scored

MAX_POINTS = 200


def _thin(xs: np.ndarray, ys: np.ndarray) -> list[list[float]]:
    if len(xs) > MAX_POINTS:
        keep = np.unique(np.linspace(0, len(xs) - 1, MAX_POINTS).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return [[round(float(x), 5), round(float(y), 5)] for x, y in zip(xs, ys, strict=True)]


def curves(scored: Scored, classes: list[str]) -> dict[str, Any]:
    """Per scored class: ROC (fpr, tpr) and precision-recall (recall, precision) points."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    out = {}
    for k in scored.classes_scored:
        actual = scored.y == k
        if actual.all() or not actual.any():
            continue
        fpr, tpr, _ = roc_curve(actual, scored.proba[:, k])
        precision, recall, _ = precision_recall_curve(actual, scored.proba[:, k])
        out[classes[k]] = {
            "roc": _thin(fpr, tpr),
            "pr": _thin(recall[::-1], precision[::-1]),
            "prevalence": float(actual.mean()),
        }
    return out


def confusion(scored: Scored) -> list[list[int]]:
    """Rows: actual class; columns: predicted class."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(scored.y, scored.pred, labels=range(scored.n_classes)).tolist()


def per_class(scored: Scored, classes: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of every class."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(
        scored.y, scored.pred, labels=range(scored.n_classes), zero_division=0
    )
    return {
        c: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, c in enumerate(classes)
    }
