"""A training set as arrays: encoded inputs and class indices per split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from r2p.config.schema import ModelSpec, PipelineConfig
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
    preprocess.check_standardised(pre, x["train"])
    return Arrays(pre, x, y)


def class_weights(spec: ModelSpec, data: Arrays) -> np.ndarray | None:
    """Each class's loss weight (float32, in class order) as ``spec.class_weight`` says, or
    None for ``none``. ``balanced``: ``n / (k * count)`` of the train split (a class with no
    training row weighs 1: no row carries it); a mapping: its weights, 1 for classes left out."""
    if spec.class_weight == "none":
        return None
    k = data.n_classes
    if spec.class_weight == "balanced":
        counts = np.bincount(data.y["train"], minlength=k).astype(np.float64)
        n = counts.sum()
        weights = np.where(counts > 0, n / (k * np.maximum(counts, 1)), 1.0)
        return weights.astype(np.float32)
    unknown = sorted(set(spec.class_weight) - set(data.pre.classes))
    if unknown:
        raise ValueError(
            f"model {spec.name!r}: class_weight names {unknown}, not classes "
            f"{list(data.pre.classes)}"
        )
    return np.array([spec.class_weight.get(c, 1.0) for c in data.pre.classes], np.float32)


def positive_index(cfg: PipelineConfig) -> int | None:
    """The positive class's index for binary pipelines (None for multiclass)."""
    lab = cfg.dataset.label
    if len(lab.classes) != 2:
        return None
    return lab.classes.index(lab.positive_class or lab.classes[-1])
