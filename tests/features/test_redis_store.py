"""The Redis policy store itself: keys under the prefix, atomic writers, URL parsing."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest

from r2p.config.schema import Timeouts
from r2p.features.redis_store import connection_string
from tests.features.conftest import redis_client
from tests.features.helpers import write_activity

T0 = dt.datetime(2026, 11, 16, 12, tzinfo=dt.UTC)


def _write_rows(store, rows: list[tuple[int, int]]) -> None:
    """Write (customer 7, event at T0 + i seconds, pages_viewed = v) for each (i, v)."""
    write_activity(store, [(T0 + dt.timedelta(seconds=i), v) for i, v in rows])


@pytest.mark.integration
def test_values_live_under_the_key_prefix_only(churn, redis_prefix) -> None:
    from r2p.features.store import apply_definitions, feature_store
    from tests.features.helpers import online

    store = feature_store()
    apply_definitions(store, churn)
    _write_rows(store, [(0, 5)])
    keys = list(redis_client().scan_iter(match=f"{redis_prefix}*"))
    assert len(keys) == 1 and keys[0].endswith(b"r2p")  # Feast's layout after the prefix
    fields = redis_client().hkeys(keys[0])
    assert b"_us:churn_activity" in fields and b"_ts:churn_activity" in fields
    assert online(store, churn, [7])["pages_viewed"] == [5]


@pytest.mark.integration
def test_dropping_a_view_removes_its_fields_under_the_prefix_only(churn, redis_prefix) -> None:
    from r2p.features.redis_store import MonotonicRedisOnlineStore
    from r2p.features.store import apply_definitions, feature_store

    store = feature_store()
    apply_definitions(store, churn)
    _write_rows(store, [(0, 5)])
    other = f"{redis_prefix}other"  # a neighbour that merely shares the prefix's start
    redis_client().hset(other, "x", "1")
    MonotonicRedisOnlineStore().delete_table(store.config, store.get_feature_view("churn_activity"))
    assert list(redis_client().scan_iter(match=f"{redis_prefix}*")) == [other.encode()]


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_concurrent_writers_never_leave_an_older_value(churn, redis_prefix) -> None:
    """Four writers race over one entity, each with the event times in its own random order
    (one event per call): the newest event's value wins every round."""
    from r2p.features.store import apply_definitions, feature_store
    from tests.features.helpers import online

    apply_definitions(feature_store(), churn)
    for round_ in range(3):
        events = list(range(round_ * 100, round_ * 100 + 40))
        stores = [feature_store() for _ in range(4)]
        orders = [random.Random(w * 10 + round_).sample(events, len(events)) for w in range(4)]
        threads = [
            threading.Thread(target=lambda s=s, o=o: [_write_rows(s, [(i, i)]) for i in o])
            for s, o in zip(stores, orders, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert online(feature_store(), churn, [7])["pages_viewed"] == [max(events)]


@pytest.mark.parametrize(
    ("url", "expected", "prefix"),
    [
        pytest.param("redis://h:6380/3", "h:6380,db=3", "", id="host-port-db"),
        pytest.param("redis://h", "h:6379,db=0", "", id="defaults"),
        pytest.param(
            "rediss://:s%40cret@h:1/2?key_prefix=prod:",
            "h:1,db=2,password=s@cret,ssl=true",
            "prod:",
            id="tls-password-prefix",
        ),
    ],
)
def test_redis_url_becomes_feasts_connection_string(url, expected, prefix) -> None:
    bounds = Timeouts(connect_timeout=2, read_timeout=7)
    conn, got_prefix = connection_string(url, bounds)
    assert conn == f"{expected},socket_connect_timeout=2.0,socket_timeout=7.0"
    assert got_prefix == prefix


def test_a_non_redis_url_is_refused() -> None:
    with pytest.raises(ValueError, match="redis://"):
        connection_string("http://h:6379/0")
