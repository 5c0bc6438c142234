"""Online equals offline; the same interval twice changes nothing (DESIGN §4's idempotency)."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pyarrow as pa
import pytest

from r2p import storage
from r2p.features.definitions import view_name
from r2p.features.repo_config import feast_home
from r2p.features.store import feature_store, materialize_interval
from r2p.intervals import day_interval
from r2p.training_set.build import feature_views
from r2p.training_set.pit import point_in_time_join
from tests.features.helpers import load_days, online

START = dt.date(2026, 11, 16)


@pytest.mark.parametrize("name", ["churn", "fleet"])
def test_online_values_equal_the_newest_point_in_time_row(name, request, online_backend) -> None:
    cfg = request.getfixturevalue(name)
    load_days(cfg, START, 3, entities=40)
    key = cfg.dataset.entity.key
    ids = _recent_entities(cfg, 8)
    as_of = dt.datetime(2026, 11, 19, tzinfo=dt.UTC) - dt.timedelta(microseconds=1)
    entities = pa.table(
        {key: pa.array(ids), "t": pa.array([as_of] * len(ids), pa.timestamp("ms", tz="UTC"))}
    )
    labels_like = entities.rename_columns([key, cfg.dataset.label.timestamp])
    views, _ = feature_views(cfg, labels_like)
    offline = point_in_time_join(entities, key, "t", views).to_pylist()
    served = online(feature_store(), cfg, ids)
    for i, row in enumerate(offline):
        for col in cfg.feature_columns:
            assert served[col.name][i] == row[col.name], (ids[i], col.name)
            assert type(served[col.name][i]) is type(row[col.name]), (col.name, col.dtype)


def _recent_entities(cfg, n: int) -> list:
    """Entities with an event on the last day, so every view is within its TTL."""
    from r2p.ingest.offline import read_offline

    events = next(s for s in cfg.dataset.sources if s.kind == "events")
    table = read_offline(cfg, events.name, dt.date(2026, 11, 18))
    ids = sorted(set(table.column(cfg.dataset.entity.key).to_pylist()))
    return ids[:n]


def _online_rows() -> list[tuple]:
    with sqlite3.connect(feast_home() / "online.db") as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return [
            (t, *row)
            for t in tables
            for row in conn.execute(
                f'SELECT entity_key, feature_name, value, event_ts FROM "{t}" '
                "ORDER BY entity_key, feature_name"
            )
        ]


BOOKKEEPING = {"meta", "created_timestamp", "last_updated_timestamp", "materialization_intervals"}


def _strip_bookkeeping(message) -> None:
    """Clear timestamps and materialisation records, at any depth of a Feast proto."""
    for field, value in list(message.ListFields()):
        if field.name in BOOKKEEPING:
            message.ClearField(field.name)
        elif field.type == field.TYPE_MESSAGE:
            items = value if field.is_repeated else [value]
            for item in items:
                if hasattr(item, "ListFields"):
                    _strip_bookkeeping(item)


def _feast_objects(cfg) -> dict[str, bytes]:
    store = feature_store()
    out = {}
    for obj in [
        *store.list_entities(),
        *store.list_feature_views(),
        *store.list_feature_services(),
        *store.list_data_sources(),
    ]:
        proto = obj.to_proto()
        _strip_bookkeeping(proto)
        out[f"{type(obj).__name__}:{obj.name}"] = proto.SerializeToString(deterministic=True)
    return out


def test_same_interval_twice_changes_nothing(churn) -> None:
    load_days(churn, START, 2, entities=30)
    offline = {s: storage.pointer(f"offline/churn/{s}/ds=2026-11-17") for s in churn.source_names}
    rows, objects = _online_rows(), _feast_objects(churn)
    published = {
        s: (storage.root() / "feast" / "churn" / s / "2026-11-17.parquet").read_bytes()
        for s in churn.source_names
    }
    load_days(churn, START + dt.timedelta(days=1), 1, entities=30)  # the same interval again
    assert {
        s: storage.pointer(f"offline/churn/{s}/ds=2026-11-17") for s in churn.source_names
    } == offline
    assert _online_rows() == rows
    assert _feast_objects(churn) == objects
    assert published == {
        s: (storage.root() / "feast" / "churn" / s / "2026-11-17.parquet").read_bytes()
        for s in churn.source_names
    }
    materialize_interval(churn, day_interval(START + dt.timedelta(days=1)), "again")
    assert _online_rows() == rows
    assert view_name(churn, "profile") in {v.name for v in feature_store().list_feature_views()}
