"""Predict with an exported model: the frozen ``.pb`` fed raw feature values, as served."""

from __future__ import annotations

from typing import Any

import numpy as np

from r2p import storage


def pb_probabilities(pb_uri: str, contract: dict[str, Any], inputs: dict[str, list]) -> np.ndarray:
    """Class probabilities from the frozen graph for raw inputs (feature -> values)."""
    from r2p.serving.loader import FrozenModel

    return FrozenModel(storage.path(pb_uri).read_bytes(), contract).predict(inputs)
