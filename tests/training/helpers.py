"""Small synthetic training data for trainer tests that need no pipeline."""

from __future__ import annotations

import numpy as np

from r2p.training import preprocess
from r2p.training.data import Arrays


def synthetic_arrays(n_classes: int, seed: int, dim: int = 12) -> Arrays:
    """Encoded arrays of a noisy linear problem: 80 training rows, 120 validation, 50 test.
    A wide network overfits them within a few epochs, so the lowest validation loss and the
    highest validation AUC come at different epochs."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(dim, n_classes))
    x, y = {}, {}
    for split, rows in (("train", 80), ("valid", 120), ("test", 50)):
        x[split] = rng.normal(size=(rows, dim)).astype(np.float32)
        noisy = x[split] @ w + rng.normal(scale=3.0, size=(rows, n_classes))
        y[split] = noisy.argmax(axis=1).astype(np.int64)
    numeric = tuple(preprocess.Numeric(f"x{i}", 0.0, 1.0) for i in range(dim))
    classes = tuple(f"c{i}" for i in range(n_classes))
    return Arrays(preprocess.Preprocessing(numeric, (), classes), x, y)
