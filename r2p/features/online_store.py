"""Feast's SQLite online store with r2p's write policy (DESIGN §4).

Feast's own SQLite store overwrites unconditionally, so backfilling an old day regresses an
entity's values to an older event time. Here a write lands only when its event time is not
older than the stored one: a backfill never regresses, and a rerun of the same interval
(same event times, corrected values) does land. Named in ``feature_store.yaml``, so
``feast materialize`` from the command line obeys it too.

Feast keeps ``event_ts`` as whole epoch seconds, too coarse to order two events of one
second, so the policy compares an extra ``event_us`` column (epoch microseconds) that
``update()`` adds to every table; ``event_ts`` is still written as Feast reads it. Writes go
in one transaction per feature view, in primary-key order (Feast executes one statement per
value).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from feast import Entity, FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore,
    SqliteOnlineStoreConfig,
    _alter_table_add_column_if_missing,
    _quote_id,
    _table_id,
)
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig

# What Feast hands online_write_batch: (entity key, feature values, event time, created time).
Rows = list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]]
POLICY = "an older event time never overwrites a newer one; equal event times overwrite"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(ts: datetime) -> int:
    """Exact epoch microseconds of a timestamp (naive means UTC, as in Feast)."""
    aware = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return (aware - EPOCH) // _US


_US = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - EPOCH


class MonotonicSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Config of the policy store (same keys as Feast's SQLite store)."""

    type: Literal["r2p.features.online_store.MonotonicSqliteOnlineStore"] = (  # type: ignore[assignment]
        "r2p.features.online_store.MonotonicSqliteOnlineStore"
    )


class MonotonicSqliteOnlineStore(SqliteOnlineStore):
    """SQLite online store whose values never regress to an older event time."""

    def _get_conn(self, config: RepoConfig, *args: Any, **kwargs: Any) -> Any:
        selected = os.environ.get("R2P_FEAST_ONLINE_STORE", "sqlite")
        if selected != "sqlite":  # Feast's bare CLI on feature_repo/ reads the template only
            raise RuntimeError(
                "R2P_FEAST_ONLINE_STORE selects another online store, but this configuration "
                "names SQLite: run Feast's CLI as `python -m r2p.features ...`"
            )
        return super()._get_conn(config, *args, **kwargs)

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[FeatureView],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        super().update(
            config, tables_to_delete, tables_to_keep, entities_to_delete, entities_to_keep, partial
        )
        conn = self._get_conn(config)
        versioning = config.registry.enable_online_feature_view_versioning
        for table in tables_to_keep:
            _alter_table_add_column_if_missing(
                conn, _table_id(config.project, table, versioning), "event_us", "INTEGER"
            )
        conn.commit()

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: Rows,
        progress: Callable[[int], Any] | None,
    ) -> None:
        if config.online_store.vector_enabled:
            raise NotImplementedError("r2p's policy store does not handle vector features")
        conn = self._get_conn(config)
        name = _quote_id(
            _table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        )
        sql = (
            f"INSERT INTO {name} (entity_key, feature_name, value, event_ts, created_ts, event_us) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
            "value = excluded.value, event_ts = excluded.event_ts, "
            "created_ts = excluded.created_ts, event_us = excluded.event_us "
            f"WHERE {name}.event_us IS NULL OR excluded.event_us >= {name}.event_us"
        )
        version = config.entity_key_serialization_version
        rows = []
        for entity_key, values, event_ts, created_ts in data:
            key = serialize_entity_key(entity_key, entity_key_serialization_version=version)
            us = epoch_us(event_ts)
            created = epoch_us(created_ts) // 1_000_000 if created_ts is not None else None
            rows.extend(
                (key, feature, val.SerializeToString(), us // 1_000_000, created, us)
                for feature, val in values.items()
            )
        rows.sort(key=lambda r: (r[0], r[1]))  # primary-key order: appends to the B-tree
        with conn:
            conn.executemany(sql, rows)
        if progress:
            progress(len(data))
