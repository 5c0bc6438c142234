"""Split policies (``training.split.method``).

``time``: the newest days are test, the days before valid, the rest train. ``random``: each
row (each entity with ``group_by_entity``) draws a uniform number from a seeded hash of its key
and timestamp: below ``test_fraction`` it is test, below ``test_fraction + valid_fraction``
valid, else train. The draw does not depend on the other rows, so every class keeps its
proportions in expectation and a row lands in the same split in every run with the same
policy: a champion's training rows can be told apart from the rows that score it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from r2p.config.schema import PipelineConfig, Split
from r2p.errors import DataError

SPLIT = "split"


def split_out_of_time(table: pa.Table, cfg: PipelineConfig) -> tuple[pa.Table, int]:
    """``table`` with a ``split`` column, and how many rows entity grouping dropped.

    Days are the UTC dates of the label's timestamp, counted back from the newest one. With
    ``group_by_entity``, an entity seen in test is removed from valid and train, and one seen
    in valid from train, so no entity spans two splits (the time order is kept).
    """
    policy = cfg.training.split
    ts = table.column(cfg.dataset.label.timestamp)
    days = pc.cast(ts, pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    newest = days.max()
    test_from = newest - np.timedelta64(policy.test_days - 1, "D")
    valid_from = test_from - np.timedelta64(policy.valid_days, "D")
    split = np.where(days >= test_from, "test", np.where(days >= valid_from, "valid", "train"))
    keep = np.ones(len(split), bool)
    if policy.group_by_entity:
        key = table.column(cfg.dataset.entity.key).to_numpy(zero_copy_only=False)
        test_entities = np.unique(key[split == "test"])
        valid_entities = np.unique(key[split == "valid"])
        keep &= ~((split != "test") & np.isin(key, test_entities))
        keep &= ~((split == "train") & np.isin(key, valid_entities))
    out = table.append_column(SPLIT, pa.array(split)).filter(pa.array(keep))
    return out, int((~keep).sum())


def split_days(cfg: PipelineConfig, newest: dt.date) -> dict[str, tuple[dt.date, dt.date]]:
    """The first and last day of each split, given the newest labelled day."""
    p = cfg.training.split
    test_from = newest - dt.timedelta(days=p.test_days - 1)
    valid_from = test_from - dt.timedelta(days=p.valid_days)
    return {
        "test": (test_from, newest),
        "valid": (valid_from, test_from - dt.timedelta(days=1)),
        "train": (dt.date.min, valid_from - dt.timedelta(days=1)),
    }


def require_splits(out: pa.Table, cfg: PipelineConfig) -> None:
    """DataError naming the config keys to change when a split of ``out`` is empty."""
    counts = dict(Counter(out.column(SPLIT).to_pylist()))
    empty = [name for name in ("train", "valid", "test") if not counts.get(name)]
    if empty:
        raise DataError(
            f"{cfg.pipeline}: the {'/'.join(empty)} split is empty ({counts}); " + _advice(out, cfg)
        )


def _advice(table: pa.Table, cfg: PipelineConfig) -> str:
    policy = cfg.training.split
    if policy.method == "random":
        return (
            f"{table.num_rows} labelled rows are too few for test_fraction "
            f"{policy.test_fraction} and valid_fraction {policy.valid_fraction}: land more "
            "rows or raise training.split.test_fraction / valid_fraction"
        )
    days = pc.count_distinct(pc.cast(table.column(cfg.dataset.label.timestamp), pa.date32()))
    need = policy.test_days + policy.valid_days + 1
    return (
        f"the labels span {days.as_py()} distinct day(s), but training.split.test_days "
        f"{policy.test_days} + valid_days {policy.valid_days} need at least {need} for a train "
        "split: set training.split.method: random (for a table whose time order means "
        "nothing), lower test_days/valid_days, or widen training.window_days "
        f"(now {cfg.training.window_days})"
    )


def split_rows(table: pa.Table, cfg: PipelineConfig) -> tuple[pa.Table, int]:
    """``table`` with a ``split`` column by the config's policy, and the rows it dropped."""
    if cfg.training.split.method == "random":
        key = table.column(cfg.dataset.entity.key).to_numpy(zero_copy_only=False)
        stamps = table.column(cfg.dataset.label.timestamp)
        ms = pc.cast(stamps, pa.timestamp("ms", tz="UTC"), safe=False)  # as landed: ms
        ts = ms.cast(pa.int64()).to_numpy(zero_copy_only=False)
        split = random_split(key, ts, cfg.training.split)
        return table.append_column(SPLIT, pa.array(split)), 0
    return split_out_of_time(table, cfg)


def _uniform(key: Any, ts: Any, policy: Split) -> np.ndarray:
    """A uniform [0, 1) number per row from a seeded hash (of the key alone when grouped)."""
    cols = {"k": pd.Series(key).astype(str)}
    if not policy.group_by_entity:
        cols["t"] = pd.Series(np.asarray(ts, dtype="int64"))
    salt = hashlib.sha256(f"r2p-split-{policy.seed}".encode()).hexdigest()[:16]
    h = pd.util.hash_pandas_object(pd.DataFrame(cols), index=False, hash_key=salt)
    return (h.to_numpy(dtype=np.uint64) >> np.uint64(11)).astype(np.float64) / 2.0**53


def random_split(key: Any, ts: Any, policy: Split) -> np.ndarray:
    """``test``, ``valid`` or ``train`` per row (entity key and timestamp as int64 ms)."""
    u = _uniform(key, ts, policy)
    test, valid = policy.test_fraction, policy.test_fraction + policy.valid_fraction
    return np.where(u < test, "test", np.where(u < valid, "valid", "train"))
