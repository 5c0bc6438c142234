"""Stateless preprocessing, fitted on the training split and baked into both models.

Numbers (and booleans as 0/1) are standardised with the train split's mean and standard
deviation; a null becomes the mean (0 after standardising). A category becomes a one-hot over
the train split's vocabulary plus one slot for anything else (null or never seen), so an
unseen category is handled, never an error. The constants are plain lists: TensorFlow bakes
them in as constants (no lookup tables, which do not survive freezing), PyTorch as buffers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from r2p.config.schema import PipelineConfig


@dataclass(frozen=True)
class Numeric:
    name: str
    mean: float
    std: float


@dataclass(frozen=True)
class Categorical:
    name: str
    vocab: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.vocab) + 1  # the last slot: null or unseen


@dataclass(frozen=True)
class Preprocessing:
    """The fitted constants, in the model's input order (config order of features)."""

    numeric: tuple[Numeric, ...]
    categorical: tuple[Categorical, ...]
    classes: tuple[str, ...]

    @property
    def input_dim(self) -> int:
        return len(self.numeric) + sum(c.width for c in self.categorical)

    @property
    def feature_names(self) -> list[str]:
        return [n.name for n in self.numeric] + [c.name for c in self.categorical]

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Preprocessing:
        return cls(
            tuple(Numeric(**n) for n in data["numeric"]),
            tuple(Categorical(c["name"], tuple(c["vocab"])) for c in data["categorical"]),
            tuple(data["classes"]),
        )


def fit(cfg: PipelineConfig, train: pd.DataFrame) -> Preprocessing:
    """Constants from the train split only (valid and test never leak into them)."""
    numeric, categorical = [], []
    for col in cfg.feature_columns:
        values = train[col.name]
        if col.dtype in ("category", "string"):
            seen = sorted({str(v) for v in values.dropna()})
            categorical.append(Categorical(col.name, tuple(seen)))
            continue
        x = values.astype("float64")
        mean = float(x.mean()) if x.notna().any() else 0.0
        std = float(x.std(ddof=0)) if x.notna().sum() > 1 else 1.0
        numeric.append(Numeric(col.name, mean, std if std > 0 and math.isfinite(std) else 1.0))
    return Preprocessing(tuple(numeric), tuple(categorical), tuple(cfg.dataset.label.classes))


def encode(pre: Preprocessing, frame: pd.DataFrame) -> np.ndarray:
    """The model input matrix (float32) for raw feature columns, as NumPy does it.

    The TensorFlow graph computes exactly this from raw values; PyTorch takes this matrix.
    """
    parts = []
    for n in pre.numeric:
        x = frame[n.name].astype("float64").to_numpy()
        parts.append(np.nan_to_num((x - n.mean) / n.std, nan=0.0)[:, None])
    for c in pre.categorical:
        index = {v: i for i, v in enumerate(c.vocab)}
        codes = np.array(
            [
                index.get(v, len(c.vocab)) if isinstance(v, str) else len(c.vocab)
                for v in frame[c.name].astype(object)
            ],
            dtype=np.int64,
        )
        parts.append(np.eye(c.width, dtype=np.float64)[codes])
    return np.concatenate(parts, axis=1).astype(np.float32)


def labels(pre: Preprocessing, frame: pd.DataFrame, column: str) -> np.ndarray:
    """Class indices (int64) of the label column, in the config's class order."""
    index = {c: i for i, c in enumerate(pre.classes)}
    return np.array([index[v] for v in frame[column]], dtype=np.int64)
