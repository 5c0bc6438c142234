"""Defects the sample generator can inject, each the way a real upstream would produce it.

Row defects spoil some rows of a good file; batch defects spoil the file or its contract.
Each defect acts in one phase of writing a landing partition: on the frame before it is
serialised, on a file's bytes before the contract is computed, or on the contract itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

Phase = Literal["frame", "bytes", "contract"]


@dataclass(frozen=True)
class Target:
    """What a frame defect needs to know about the source it spoils."""

    key: str
    timestamp: str
    label_column: str | None
    numeric: list[str]
    floats: list[str]


def _rows(df: pd.DataFrame, fraction: float) -> np.ndarray:
    n = max(1, round(len(df) * fraction))
    return np.linspace(0, len(df) - 1, n).round().astype(int) if len(df) else np.array([], int)


def _need_label(t: Target) -> str:
    if t.label_column is None:
        raise ValueError("this defect applies to the label source only")
    return t.label_column


def _null_label(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    df[_need_label(t)] = df[_need_label(t)].astype(object)
    df.iloc[_rows(df, f), df.columns.get_loc(t.label_column)] = None
    return df


def _unknown_label(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    df[_need_label(t)] = df[_need_label(t)].astype(object)
    df.iloc[_rows(df, f), df.columns.get_loc(t.label_column)] = "not_a_class"
    return df


def _null_entity(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    df[t.key] = df[t.key].astype(object)
    df.iloc[_rows(df, f), df.columns.get_loc(t.key)] = None
    return df


def _duplicate_key(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    return pd.concat([df, df.iloc[_rows(df, f)]], ignore_index=True)


def _out_of_interval(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    rows = _rows(df, f)
    col = df.columns.get_loc(t.timestamp)
    df.iloc[rows, col] = df.iloc[rows, col] - pd.Timedelta(days=3)
    return df


def _non_finite(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    if not t.floats:
        raise ValueError("this source has no float column to spoil")
    df.iloc[_rows(df, f), df.columns.get_loc(t.floats[0])] = np.inf
    return df


def _missing_column(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    return df.drop(columns=[df.columns[-1]])


def _unknown_column(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    df["unexpected_col"] = 1
    return df


def _wrong_type(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    col = t.numeric[0]
    df[col] = df[col].astype(object)
    df.iloc[_rows(df, f), df.columns.get_loc(col)] = "n/a-text"
    return df


def _empty(df: pd.DataFrame, t: Target, f: float) -> pd.DataFrame:
    return df.iloc[0:0]


def _non_utf8(data: bytes) -> bytes:
    cut = len(data) // 2
    return data[:cut] + b"\xff\xfe caf\xe9 " + data[cut:]


def _truncated(data: bytes) -> bytes:
    return data[: max(1, int(len(data) * 0.6))]


def _manifest_rows(manifest: dict[str, Any]) -> dict[str, Any]:
    manifest["files"][0]["rows"] += 7
    return manifest


def _manifest_sha(manifest: dict[str, Any]) -> dict[str, Any]:
    manifest["files"][0]["sha256"] = "0" * 64
    return manifest


FRAME: dict[str, Callable[[pd.DataFrame, Target, float], pd.DataFrame]] = {
    "null_label": _null_label,
    "unknown_label": _unknown_label,
    "null_entity": _null_entity,
    "duplicate_key": _duplicate_key,
    "out_of_interval": _out_of_interval,
    "non_finite": _non_finite,
    "missing_column": _missing_column,
    "unknown_column": _unknown_column,
    "wrong_type": _wrong_type,
    "empty_partition": _empty,
}
BYTES: dict[str, Callable[[bytes], bytes]] = {
    "non_utf8": _non_utf8,
    "truncated_file": _truncated,
}
CONTRACT: dict[str, Callable[[dict[str, Any]], dict[str, Any]] | None] = {
    "manifest_rows_mismatch": _manifest_rows,
    "manifest_sha_mismatch": _manifest_sha,
    "no_contract": None,
}
ROW_DEFECTS = (
    "null_label",
    "unknown_label",
    "null_entity",
    "duplicate_key",
    "out_of_interval",
    "non_finite",
)
KINDS = tuple(FRAME) + tuple(BYTES) + tuple(CONTRACT)


def phase_of(kind: str) -> Phase:
    """Which phase of writing a partition ``kind`` acts in (ValueError for unknown kinds)."""
    if kind in FRAME:
        return "frame"
    if kind in BYTES:
        return "bytes"
    if kind in CONTRACT:
        return "contract"
    raise ValueError(f"unknown defect {kind!r}; known: {', '.join(KINDS)}")
