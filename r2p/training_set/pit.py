"""The point-in-time join, with Feast's rules, on DuckDB's ASOF JOIN.

For each entity row (entity key, event time) and each feature view: the feature row of the
same entity with the greatest timestamp at or before the event time, and only if that
timestamp is at or after ``event time - ttl`` (otherwise the view's features are null).
These are the rules of Feast's offline stores (``<=`` the event time, ``>=`` event time
minus TTL); a test proves the rows identical to Feast's own ``get_historical_features``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pyarrow as pa


@dataclass(frozen=True)
class ViewData:
    """One feature view's rows: ``timestamp`` is its event-time column."""

    name: str
    table: pa.Table
    timestamp: str
    ttl: dt.timedelta
    features: list[str]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def point_in_time_join(
    entities: pa.Table, key: str, event_ts: str, views: list[ViewData]
) -> pa.Table:
    """``entities`` with every view's features as of each row's ``event_ts``, same row order."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register(
            "entities",
            entities.append_column("__row", pa.array(range(entities.num_rows), pa.int64())),
        )
        select = ["e.*"]
        joins = []
        for i, v in enumerate(views):
            con.register(f"v{i}", v.table)
            alias = f"f{i}"
            ttl_us = int(v.ttl / dt.timedelta(microseconds=1))
            fresh = f"{alias}.{_q(v.timestamp)} >= e.{_q(event_ts)} - to_microseconds({ttl_us})"
            select += [f"CASE WHEN {fresh} THEN {alias}.{_q(c)} END AS {_q(c)}" for c in v.features]
            cols = ", ".join(_q(c) for c in [key, v.timestamp, *v.features])
            joins.append(
                f"ASOF LEFT JOIN (SELECT {cols} FROM v{i}) {alias} "
                f"ON e.{_q(key)} = {alias}.{_q(key)} "
                f"AND e.{_q(event_ts)} >= {alias}.{_q(v.timestamp)}"
            )
        sql = f"SELECT {', '.join(select)} FROM entities e {' '.join(joins)} ORDER BY e.__row"
        out = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    return out.drop_columns(["__row"])
