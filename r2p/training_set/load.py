"""Read a committed training set back: the frame and its manifest, from the URIs the
training-set stage hands on (what XCom carries)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from r2p import storage


def load_training_set(dataset: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training set frame and its manifest, from the training-set stage's URIs."""
    data = storage.path(dataset["dataset_uri"]).read_bytes()
    frame = pq.read_table(io.BytesIO(data)).to_pandas()
    return frame, storage.read_json(storage.path(dataset["manifest_uri"]))
