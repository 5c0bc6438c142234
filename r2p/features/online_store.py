"""Feast's SQLite online store with r2p's write policy (DESIGN §4).

Feast's own SQLite store overwrites unconditionally, so backfilling an old day regresses an
entity's values to an older event time. Here a write lands only when its event time is not
older than the stored one: a backfill never regresses, and a rerun of the same interval
(same event times, corrected values) does land. Named in ``feature_store.yaml``, so
``feast materialize`` from the command line obeys it too. Writes are batched per feature
view in one transaction (Feast's store executes one statement per value).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from feast import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore,
    SqliteOnlineStoreConfig,
    _quote_id,
    _table_id,
)
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.utils import to_naive_utc

# The policy, in words the SQL below implements: write when new_event_ts >= stored_event_ts.
POLICY = "an older event time never overwrites a newer one; equal event times overwrite"


class MonotonicSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Config of the policy store (same keys as Feast's SQLite store)."""

    type: Literal["r2p.features.online_store.MonotonicSqliteOnlineStore"] = (  # type: ignore[assignment]
        "r2p.features.online_store.MonotonicSqliteOnlineStore"
    )


class MonotonicSqliteOnlineStore(SqliteOnlineStore):
    """SQLite online store whose values never regress to an older event time."""

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        if config.online_store.vector_enabled:
            raise NotImplementedError("r2p's policy store does not handle vector features")
        conn = self._get_conn(config)
        name = _quote_id(
            _table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        )
        sql = (
            f"INSERT INTO {name} (entity_key, feature_name, value, event_ts, created_ts) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
            "value = excluded.value, event_ts = excluded.event_ts, "
            "created_ts = excluded.created_ts "
            f"WHERE excluded.event_ts >= {name}.event_ts"
        )
        version = config.entity_key_serialization_version
        rows = []
        for entity_key, values, event_ts, created_ts in data:
            key = serialize_entity_key(entity_key, entity_key_serialization_version=version)
            ts = to_naive_utc(event_ts)
            created = to_naive_utc(created_ts) if created_ts is not None else None
            rows.extend(
                (key, feature, val.SerializeToString(), ts, created)
                for feature, val in values.items()
            )
        with conn:
            conn.executemany(sql, rows)
        if progress:
            progress(len(data))
