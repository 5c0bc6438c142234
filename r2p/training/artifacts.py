"""What the training stages commit, as other packages read it: the model spec a run trained,
the retrained TensorFlow weights. Export, evaluation and promotion import these, never
``training/stage.py``."""

from __future__ import annotations

import io

import numpy as np

from r2p import storage
from r2p.config.schema import ModelSpec, PipelineConfig

WEIGHTS = "weights.npz"


def model_spec(cfg: PipelineConfig, name: str | None = None) -> ModelSpec:
    """The named model spec of ``cfg`` (default: the first)."""
    if name is None:
        return cfg.models[0]
    for spec in cfg.models:
        if spec.name == name:
            return spec
    raise KeyError(f"{cfg.pipeline} has no model {name!r}; known: {[m.name for m in cfg.models]}")


def save_tf_weights(prefix: storage.ObjectStoragePath, weights: list[np.ndarray]) -> None:
    """Write ``model.get_weights()`` under ``prefix`` (read back by :func:`load_tf_weights`)."""
    buf = io.BytesIO()
    np.savez(buf, *weights)
    (prefix / WEIGHTS).write_bytes(buf.getvalue())


def load_tf_weights(uri: str) -> list[np.ndarray]:
    """The retrained model's weights, in ``model.get_weights()`` order."""
    with np.load(io.BytesIO((storage.path(uri) / WEIGHTS).read_bytes())) as npz:
        return [npz[f"arr_{i}"] for i in range(len(npz.files))]
