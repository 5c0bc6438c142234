"""The out-of-time split: newest days test, the days before valid, the rest train."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from r2p.config.schema import PipelineConfig

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
