"""Stateless preprocessing, fitted on the training split and baked into both models.

Numbers (and booleans as 0/1) are standardised with the train split's mean and standard
deviation; a null becomes the mean (0 after standardising). A category becomes a one-hot over
the train split's vocabulary plus one slot for anything else (never seen), so an unseen
category is handled, never an error.

Missing values are data: a column declared ``nullable`` in the config, or one with a gap in
the train split, gets more than the imputation. A number gets a missing indicator (1.0 where
the value was missing, else 0.0); the indicators follow all the standardised numbers, in the
numbers' order. A category gets its own "missing" slot (None, NaN or the empty string, which
is how the TensorFlow graph receives a missing text), just before the "other" slot, so a gap
and an unseen category stay apart. Columns that are neither keep the encoding they had before
(same input width). Layout: numbers, indicators, then one block per category: vocabulary,
[missing], other.

The constants are plain lists: TensorFlow bakes them in as constants (no lookup tables, which
do not survive freezing), PyTorch as buffers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from r2p.config.schema import PipelineConfig
from r2p.errors import DataError
from r2p.training.models import Layout

STANDARD_TOLERANCE = 1e-3  # of the train split's encoded mean (from 0) and sd (from 1)


@dataclass(frozen=True)
class Numeric:
    name: str
    mean: float
    std: float
    indicator: bool = False  # a missing-indicator input (nullable, or gaps in train)


@dataclass(frozen=True)
class Categorical:
    name: str
    vocab: tuple[str, ...]
    missing: bool = False  # its own slot for a gap (nullable, or gaps in train)

    @property
    def width(self) -> int:
        # vocabulary, then the missing slot (when it has one), then the last slot: unseen
        # (and a gap too, for a column without the missing slot)
        return len(self.vocab) + 1 + int(self.missing)


@dataclass(frozen=True)
class Preprocessing:
    """The fitted constants, in the model's input order (config order of features)."""

    numeric: tuple[Numeric, ...]
    categorical: tuple[Categorical, ...]
    classes: tuple[str, ...]

    @property
    def indicators(self) -> tuple[Numeric, ...]:
        """The numbers with a missing indicator, in the order of their indicator inputs."""
        return tuple(n for n in self.numeric if n.indicator)

    @property
    def input_dim(self) -> int:
        return self.layout.input_dim

    @property
    def layout(self) -> Layout:
        """The encoded matrix's blocks: numbers and indicators, then each one-hot block."""
        return Layout(
            len(self.numeric) + len(self.indicators), tuple(c.width for c in self.categorical)
        )

    @property
    def feature_names(self) -> list[str]:
        return [n.name for n in self.numeric] + [c.name for c in self.categorical]

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Preprocessing:
        """Also JSON written before missing indicators and slots existed (stored models):
        absent fields mean no indicator, no missing slot."""
        return cls(
            tuple(
                Numeric(n["name"], n["mean"], n["std"], bool(n.get("indicator", False)))
                for n in data["numeric"]
            ),
            tuple(
                Categorical(c["name"], tuple(c["vocab"]), bool(c.get("missing", False)))
                for c in data["categorical"]
            ),
            tuple(data["classes"]),
        )


def numbers(values: pd.Series) -> np.ndarray:
    """A numeric or boolean column as float64, NaN where missing (None, NaN, pd.NA)."""
    try:
        return values.astype("float64").to_numpy()
    except (TypeError, ValueError):  # object columns holding pd.NA
        return pd.to_numeric(values).astype("float64").to_numpy()


def missing_text(values: pd.Series) -> np.ndarray:
    """Where a text column is missing: None, NaN, pd.NA or the empty string."""
    return np.array([not isinstance(v, str) or v == "" for v in values.astype(object)], bool)


def fit(cfg: PipelineConfig, train: pd.DataFrame) -> Preprocessing:
    """Constants from the train split only (valid and test never leak into them)."""
    numeric, categorical = [], []
    for col in cfg.feature_columns:
        values = train[col.name]
        if col.dtype in ("category", "string"):
            gaps = bool(missing_text(values).any())
            missing = col.nullable or gaps
            seen = {str(v) for v in values.dropna()}
            if missing:
                seen.discard("")  # the graph receives a missing text as ""
            categorical.append(Categorical(col.name, tuple(sorted(seen)), missing))
            continue
        x = pd.Series(numbers(values))
        mean = float(x.mean()) if x.notna().any() else 0.0
        std = float(x.std(ddof=0)) if x.notna().sum() > 1 else 1.0
        numeric.append(
            Numeric(
                col.name,
                mean,
                std if std > 0 and math.isfinite(std) else 1.0,
                col.nullable or bool(x.isna().any()),
            )
        )
    return Preprocessing(tuple(numeric), tuple(categorical), tuple(cfg.dataset.label.classes))


def encode(pre: Preprocessing, frame: pd.DataFrame) -> np.ndarray:
    """The model input matrix (float32) for raw feature columns, as NumPy does it.

    The TensorFlow graph computes exactly this from raw values; PyTorch takes this matrix.
    """
    parts = []
    xs = {n.name: numbers(frame[n.name]) for n in pre.numeric}
    for n in pre.numeric:
        parts.append(np.nan_to_num((xs[n.name] - n.mean) / n.std, nan=0.0)[:, None])
    for n in pre.indicators:
        parts.append(np.isnan(xs[n.name]).astype(np.float64)[:, None])
    for c in pre.categorical:
        index = {v: i for i, v in enumerate(c.vocab)}
        other = c.width - 1
        values = frame[c.name].astype(object)
        codes = np.array(
            [index.get(v, other) if isinstance(v, str) else other for v in values],
            dtype=np.int64,
        )
        if c.missing:
            codes[missing_text(values)] = len(c.vocab)
        parts.append(np.eye(c.width, dtype=np.float64)[codes])
    if not parts:
        return np.zeros((len(frame), 0), np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32)


def labels(pre: Preprocessing, frame: pd.DataFrame, column: str) -> np.ndarray:
    """Class indices (int64) of the label column, in the config's class order."""
    index = {c: i for i, c in enumerate(pre.classes)}
    return np.array([index[v] for v in frame[column]], dtype=np.int64)


def moments(pre: Preprocessing, x: np.ndarray) -> dict[str, tuple[float, float]]:
    """Each number's (mean, sd) in an encoded matrix ``x``, over the rows where the number was
    present (its missing indicator 0): on the train split, (0, 1) when standardised."""
    flags = {n.name: len(pre.numeric) + i for i, n in enumerate(pre.indicators)}
    out = {}
    for j, n in enumerate(pre.numeric):
        col = x[:, j].astype(np.float64)
        if n.name in flags:
            col = col[x[:, flags[n.name]] == 0]
        if len(col):
            out[n.name] = (float(col.mean()), float(col.std()))
    return out


def check_standardised(pre: Preprocessing, x_train: np.ndarray) -> None:
    """DataError naming the numbers whose encoded train split is not mean 0, sd 1 (within
    :data:`STANDARD_TOLERANCE`; a constant number encodes as 0, sd 0, and passes)."""
    bad = {
        name: (round(mean, 6), round(sd, 6))
        for name, (mean, sd) in moments(pre, x_train).items()
        if abs(mean) > STANDARD_TOLERANCE
        or (abs(sd - 1) > STANDARD_TOLERANCE and sd > STANDARD_TOLERANCE)
    }
    if bad:
        raise DataError(
            f"numeric inputs not standardised on the train split (name: (mean, sd)): {bad}; "
            "a column with infinite or huge values cannot be standardised: fix its values"
        )
