"""Classification metrics from logits, the same for both frameworks."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def classification(
    logits: np.ndarray, y: np.ndarray, n_classes: int, positive: int | None = None
) -> dict[str, float]:
    """log loss, accuracy, F1 and ROC AUC (binary: of ``positive``; else macro one-vs-rest)."""
    proba = softmax(np.asarray(logits, dtype=np.float64))
    pred = proba.argmax(axis=1)
    labels = list(range(n_classes))
    out = {
        "log_loss": float(log_loss(y, proba, labels=labels)),
        "accuracy": float(accuracy_score(y, pred)),
    }
    if n_classes == 2:
        pos = 1 if positive is None else positive
        out["f1"] = float(f1_score(y, pred, pos_label=pos, zero_division=0))
        out["roc_auc"] = (
            float(roc_auc_score(y == pos, proba[:, pos])) if len(np.unique(y)) > 1 else float("nan")
        )
    else:
        out["f1_macro"] = float(f1_score(y, pred, average="macro", labels=labels, zero_division=0))
        present = len(np.unique(y)) == n_classes
        out["roc_auc_macro"] = (
            float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels))
            if present
            else float("nan")
        )
    return out
