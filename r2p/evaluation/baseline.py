"""The baseline every candidate must beat: a logistic regression on the candidate's own
training split and preprocessing (a model that needs no architecture to be right)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.training.preprocess import Preprocessing, encode, labels
from r2p.training_set.split import SPLIT

NAME = "logistic_regression"


def baseline_probabilities(
    cfg: PipelineConfig, candidate: dict[str, Any], rows: pd.DataFrame
) -> tuple[np.ndarray, dict[str, Any]]:
    """Class probabilities of the baseline on ``rows``, and what it was trained on."""
    from sklearn.linear_model import LogisticRegression

    from r2p.training_set.load import load_training_set

    pre = Preprocessing.from_json(
        storage.read_json(storage.path(candidate["model_uri"]) / "preprocessing.json")
    )
    frame, _ = load_training_set(candidate)
    train = frame[frame[SPLIT] == "train"]
    y = labels(pre, train, cfg.dataset.label.column)
    n = len(pre.classes)
    info = {"kind": NAME, "trained_on": "candidate train split", "train_rows": len(train)}
    present = np.unique(y)
    if len(present) < 2:  # one class only: the majority class is all it can say
        proba = np.zeros((len(rows), n))
        proba[:, present[0] if len(present) else 0] = 1.0
        return proba, {**info, "kind": "majority_class"}
    model = LogisticRegression(max_iter=2000, random_state=0)
    model.fit(encode(pre, train), y)
    proba = np.zeros((len(rows), n))
    proba[:, model.classes_] = model.predict_proba(encode(pre, rows))
    return proba, info
