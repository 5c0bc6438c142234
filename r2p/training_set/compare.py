"""Compare training-set rows from different builders exactly (for tests and benchmarks)."""

from __future__ import annotations

import math

import pandas as pd


def _plain(value: object) -> object:
    """One cell as a comparable Python value: null -> None, every number -> float."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, pd.Timestamp):
        value = value.item()  # NumPy scalars
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return float(value)


def rows(df: pd.DataFrame, key: str, ts: str, features: list[str]) -> pd.DataFrame:
    """``df`` reduced to key, ``event_timestamp`` and features, sorted, cells made plain."""
    out = df.rename(columns={ts: "event_timestamp"})
    out = out.sort_values([key, "event_timestamp"]).reset_index(drop=True)
    out = out[[key, "event_timestamp", *features]]
    return pd.DataFrame({c: pd.Series([_plain(v) for v in out[c]], dtype=object) for c in out})


def compare(ours: pd.DataFrame, other: pd.DataFrame, key: str, features: list[str]) -> dict:
    """How ``other`` (keyed by ``event_timestamp``) agrees with ``ours`` (already normalised)."""
    merged = ours.merge(other, on=[key, "event_timestamp"], suffixes=("", "_o"))
    same = all(merged[f].tolist() == merged[f + "_o"].tolist() for f in features)
    return {
        "rows": len(other),
        "rows_matched": len(merged),
        "values_identical": same,
        "all_rows_identical": same and len(ours) == len(other) == len(merged),
    }
