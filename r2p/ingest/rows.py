"""Row defects: rows that are individually wrong go to quarantine with their reasons.

Reasons: ``null_entity``, ``null_timestamp``, ``out_of_interval`` (the partition timestamp is
outside the run's interval), ``null_label``, ``unknown_label``, ``non_finite`` (inf or NaN in
a number), ``null_value`` (in a column declared not nullable), ``duplicate_row`` (an exact
copy of an earlier row: the copy goes, the first stays) and ``duplicate_key`` (rows sharing
an entity and timestamp but differing: all of them go, since none can be trusted).

The checks run on Arrow arrays and NumPy masks; only the duplicate candidates and the bad
rows are ever turned into pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from r2p.ingest.schema import SourceSchema
from r2p.intervals import Interval

REASON = "_reason"


def _mask(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _duplicates(table: pa.Table, schema: SourceSchema) -> tuple[np.ndarray, np.ndarray]:
    """(exact copies after their first row, rows sharing a key but differing)."""
    n = table.num_rows
    keys = pd.DataFrame(
        {
            "k": table.column(schema.key).to_numpy(zero_copy_only=False),
            "t": table.column(schema.event_ts).cast(pa.int64()).to_numpy(zero_copy_only=False),
        }
    )
    shared = keys.duplicated(keep=False).to_numpy()
    exact, conflict = np.zeros(n, bool), np.zeros(n, bool)
    if shared.any():
        idx = np.flatnonzero(shared)
        rows = table.take(pa.array(idx)).to_pandas()
        copy = rows.duplicated(keep="first").to_numpy()
        exact[idx[copy]] = True
        still = rows[~copy].duplicated([schema.key, schema.event_ts], keep=False).to_numpy()
        conflict[idx[~copy][still]] = True
    return exact, conflict


def _reasons(table: pa.Table, schema: SourceSchema, interval: Interval) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"null_entity": _mask(table.column(schema.key).is_null())}
    ts_null = np.zeros(table.num_rows, bool)
    for ts in {schema.partition_ts, schema.event_ts}:
        ts_null |= _mask(table.column(ts).is_null())
    out["null_timestamp"] = ts_null
    part = table.column(schema.partition_ts)
    start = pa.scalar(interval.start, type=part.type)
    end = pa.scalar(interval.end, type=part.type)
    out["out_of_interval"] = _mask(pc.or_(pc.less(part, start), pc.greater_equal(part, end)))
    if schema.label:
        label = table.column(schema.label)
        out["null_label"] = _mask(label.is_null())
        known = pc.is_in(label, value_set=pa.array(schema.classes))
        out["unknown_label"] = _mask(pc.and_(pc.invert(known), pc.is_valid(label)))
    non_finite = np.zeros(table.num_rows, bool)
    null_value = np.zeros(table.num_rows, bool)
    for f in schema.fields:
        if f.name in (schema.key, schema.partition_ts, schema.event_ts, schema.label):
            continue
        col = table.column(f.name)
        if f.dtype == "float64":  # NaN and inf are values here, not nulls
            non_finite |= _mask(pc.invert(pc.is_finite(col)))
        if not f.nullable:
            null_value |= _mask(col.is_null())
    out["non_finite"], out["null_value"] = non_finite, null_value
    out["duplicate_row"], out["duplicate_key"] = _duplicates(table, schema)
    return out


def split_rows(
    table: pa.Table, schema: SourceSchema, interval: Interval
) -> tuple[pa.Table, pd.DataFrame]:
    """(good rows as Arrow, bad rows as pandas with a ``_reason`` column, ``;``-separated)."""
    reasons = {name: m for name, m in _reasons(table, schema, interval).items() if m.any()}
    bad = np.zeros(table.num_rows, bool)
    for m in reasons.values():
        bad |= m
    good = table.filter(pa.array(~bad))
    idx = np.flatnonzero(bad)
    quarantined = table.take(pa.array(idx)).to_pandas()
    quarantined[REASON] = [";".join(name for name, m in reasons.items() if m[i]) for i in idx]
    return good, quarantined


def reason_counts(bad: pd.DataFrame) -> dict[str, int]:
    """How many quarantined rows carry each reason."""
    if bad.empty:
        return {}
    return bad[REASON].str.split(";").explode().value_counts().sort_index().to_dict()
