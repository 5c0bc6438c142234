"""A training set as arrays: encoded inputs and class indices per split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from r2p.config.schema import PipelineConfig
from r2p.training import preprocess
from r2p.training_set.split import SPLIT


@dataclass
class Arrays:
    pre: preprocess.Preprocessing
    x: dict[str, np.ndarray]  # split -> (rows, input_dim) float32
    y: dict[str, np.ndarray]  # split -> (rows,) int64

    @property
    def n_classes(self) -> int:
        return len(self.pre.classes)


def arrays(cfg: PipelineConfig, frame: pd.DataFrame) -> Arrays:
    """Fit preprocessing on train, encode every split."""
    train = frame[frame[SPLIT] == "train"]
    if train.empty:
        from r2p.errors import DataError

        raise DataError(
            f"{cfg.pipeline}: the training split is empty (valid and test take the "
            f"newest {cfg.training.split.valid_days + cfg.training.split.test_days} "
            "labelled days); load more days or widen training.window_days"
        )
    pre = preprocess.fit(cfg, train)
    x, y = {}, {}
    for name in ("train", "valid", "test"):
        part = frame[frame[SPLIT] == name]
        x[name] = preprocess.encode(pre, part)
        y[name] = preprocess.labels(pre, part, cfg.dataset.label.column)
    return Arrays(pre, x, y)


def positive_index(cfg: PipelineConfig) -> int | None:
    """The positive class's index for binary pipelines (None for multiclass)."""
    lab = cfg.dataset.label
    if len(lab.classes) != 2:
        return None
    return lab.classes.index(lab.positive_class or lab.classes[-1])
