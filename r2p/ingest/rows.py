"""Row defects: rows that are individually wrong go to quarantine with their reasons.

Reasons: ``null_entity``, ``null_timestamp``, ``out_of_interval`` (the partition timestamp is
outside the run's interval), ``null_label``, ``unknown_label``, ``non_finite`` (inf or NaN in
a number), ``null_value`` (in a column declared not nullable), ``duplicate_row`` (an exact
copy of an earlier row: the copy goes, the first stays) and ``duplicate_key`` (rows sharing
an entity and timestamp but differing: all of them go, since none can be trusted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from r2p.ingest.schema import SourceSchema
from r2p.intervals import Interval

REASON = "_reason"


def split_rows(
    table: pa.Table, schema: SourceSchema, interval: Interval
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(good rows, bad rows with a ``_reason`` column listing every reason, ``;``-separated)."""
    df = table.to_pandas()
    reasons = pd.Series("", index=df.index, dtype=object)

    def flag(mask: pd.Series | np.ndarray, reason: str) -> None:
        mask = pd.Series(mask, index=df.index).fillna(False).astype(bool)
        reasons[mask] = reasons[mask] + reason + ";"

    flag(df[schema.key].isna(), "null_entity")
    for ts in {schema.partition_ts, schema.event_ts}:
        flag(df[ts].isna(), "null_timestamp")
    part_ts = df[schema.partition_ts]
    start, end = pd.Timestamp(interval.start), pd.Timestamp(interval.end)
    flag(part_ts.notna() & ((part_ts < start) | (part_ts >= end)), "out_of_interval")
    if schema.label:
        flag(df[schema.label].isna(), "null_label")
        flag(df[schema.label].notna() & ~df[schema.label].isin(schema.classes), "unknown_label")
    for f in schema.fields:
        if f.name in (schema.key, schema.partition_ts, schema.event_ts, schema.label):
            continue
        col = df[f.name]
        nulls = table.column(f.name).is_null().to_numpy(zero_copy_only=False)
        if f.dtype == "float64":  # NaN and inf are values here, not nulls
            values = col.to_numpy(dtype=float, na_value=0.0)
            flag(~nulls & ~np.isfinite(values), "non_finite")
        if not f.nullable:
            flag(nulls, "null_value")
    exact = df.duplicated(keep="first")
    flag(exact, "duplicate_row")
    keyed = df[~exact].duplicated([schema.key, schema.event_ts], keep=False)
    flag(keyed.reindex(df.index, fill_value=False), "duplicate_key")
    bad = reasons != ""
    quarantined = df[bad].copy()
    quarantined[REASON] = reasons[bad].str.rstrip(";")
    return df[~bad], quarantined


def reason_counts(bad: pd.DataFrame) -> dict[str, int]:
    """How many quarantined rows carry each reason."""
    if bad.empty:
        return {}
    return bad[REASON].str.split(";").explode().value_counts().sort_index().to_dict()
