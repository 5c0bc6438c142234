"""The evaluation window: labelled rows newer than anything either model trained or tuned on.

Window = (the later of the two models' train+valid end, the newest labelled moment], taken
from the candidate's point-in-time-joined training set (the labels that had arrived by its
cutoff), so every row is one neither model saw and the same rows score all models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from r2p.config.schema import PipelineConfig
from r2p.training_set.split import SPLIT


@dataclass
class Window:
    """The evaluation rows and how they were chosen."""

    frame: pd.DataFrame
    after: str
    set_by: str  # which model's train+valid end opened the window
    description: dict[str, Any]


def evaluation_window(
    cfg: PipelineConfig, candidate: dict[str, Any], champion: dict[str, Any] | None
) -> Window:
    """The rows of the candidate's training set labelled after both models' train+valid end."""
    from r2p.training_set.load import load_training_set

    frame, manifest = load_training_set(candidate)
    ts_col = cfg.dataset.label.timestamp
    ts = pd.to_datetime(frame[ts_col], utc=True)
    if cfg.training.split.method == "random":
        keep, after, set_by = _unseen_by_champion(cfg, frame, ts, champion)
    else:
        after, set_by = candidate["train_valid_end"], "candidate"
        if champion is not None and champion["train_valid_end"] > after:
            after, set_by = champion["train_valid_end"], "champion"
        keep = ts > pd.Timestamp(after)
    rows = frame[(frame[SPLIT] == "test") & keep].reset_index(drop=True)
    newest = pd.to_datetime(rows[ts_col], utc=True).max() if len(rows) else None
    return Window(
        frame=rows,
        after=after,
        set_by=set_by,
        description={
            "after": after,
            "through": newest.isoformat() if newest is not None else None,
            "opened_by": set_by,
            "labels_arrived_before": manifest["cutoff"],
            "rows": len(rows),
            "entities": int(rows[cfg.dataset.entity.key].nunique()) if len(rows) else 0,
            "source_dataset_uri": candidate["dataset_uri"],
            "source_dataset_hash": candidate["dataset_hash"],
            "feature_service": candidate["feature_service"],
        },
    )


def _unseen_by_champion(
    cfg: PipelineConfig, frame: pd.DataFrame, ts: pd.Series, champion: dict[str, Any] | None
) -> tuple[pd.Series, str, str]:
    """Under the random split: the candidate's test rows that the champion did not train or
    tune on either (its own split policy, recomputed per row), as (mask, after, opened by)."""
    import numpy as np

    from r2p.config.schema import Split
    from r2p.training_set.split import random_split

    everything = pd.Series(True, index=frame.index)
    if champion is None:
        return everything, "-", "candidate (random split: its test rows)"
    policy = champion.get("split_policy") or {}
    if policy.get("method") != "random":  # a champion split by time saw up to its end
        after = champion["train_valid_end"]
        return ts > pd.Timestamp(after), after, "champion"
    # ms since the epoch, as the training set's split saw them, whatever unit pandas holds
    # (a frame read from Arrow keeps ms: dividing its int64 by 10**6 again scrambled the split)
    stamps = ts.dt.as_unit("ms").astype("int64").to_numpy()
    theirs = random_split(frame[cfg.dataset.entity.key].to_numpy(), stamps, Split(**policy))
    return pd.Series(np.asarray(theirs) == "test", index=frame.index), "-", "champion's test rows"


def missing_inputs(model: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    """The model's contract inputs that the evaluation rows do not carry."""
    return [f for f in model["features"] if f not in frame.columns]


def model_inputs(model: dict[str, Any], frame: pd.DataFrame) -> dict[str, list]:
    """Raw values per contract input, as the feature store holds them (None = missing: the
    loader feeds it as NaN to a number, as "" to a text)."""
    return {f: [None if is_missing(v) else v for v in frame[f]] for f in model["features"]}


def is_missing(v: Any) -> bool:
    """A gap in a raw value: None, a float NaN (NumPy's too) or pandas' NA/NaT (nullable
    integer and boolean columns hold pd.NA, which NumPy cannot turn into a float)."""
    if v is None or isinstance(v, str):
        return v is None
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # not a scalar
        return False
