"""The baseline every candidate must beat: a logistic regression on the candidate's own
training split and preprocessing (a model that needs no architecture to be right), fitted once
per training set and encoded as every reference is (``reference.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from r2p.config.schema import PipelineConfig
from r2p.evaluation import reference

NAME = "logistic_regression"


def _logistic_regression(settings: dict[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**settings)


LOGISTIC_REGRESSION = reference.Reference(
    NAME, {"max_iter": 2000, "random_state": 0}, _logistic_regression
)


def baseline_probabilities(
    cfg: PipelineConfig, candidate: dict[str, Any], rows: pd.DataFrame
) -> tuple[np.ndarray, dict[str, Any]]:
    """Class probabilities of the baseline on ``rows``, and what it was trained on."""
    return reference.probabilities(cfg, candidate, rows, LOGISTIC_REGRESSION)
