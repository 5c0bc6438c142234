"""The online store under test: SQLite in the home, or Redis under a key prefix of its own.

Redis runs in database ``R2P_TEST_REDIS_DB`` (default 11) with a unique key prefix per test,
so parallel test runs never see each other's values; the test's keys are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require

REDIS_DB = int(os.environ.get("R2P_TEST_REDIS_DB", "11"))
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.integration),
]


def redis_client():
    """A client on the test database, with short timeouts."""
    import redis

    return redis.Redis(
        host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=2, socket_timeout=10
    )


def redis_reachable() -> tuple[bool, str]:
    """Whether the machine's Redis answers PING, and why not."""
    import redis

    try:
        return bool(redis_client().ping()), "PING unanswered"
    except redis.RedisError as exc:
        return False, str(exc)


@pytest.fixture
def redis_prefix(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Select the Redis online store under a fresh key prefix; delete its keys afterwards."""
    yield from use_redis(monkeypatch)


def use_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The body of the ``redis_prefix`` fixture (other test folders define it from this)."""
    require("Redis", *redis_reachable())
    prefix = f"r2p-test-{uuid.uuid4().hex[:12]}:"
    url = f"redis://127.0.0.1:6379/{REDIS_DB}?key_prefix={prefix}"
    monkeypatch.setenv("R2P_FEAST_ONLINE_STORE", url)
    try:
        yield prefix
    finally:
        client = redis_client()
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)


@pytest.fixture(params=BACKENDS)
def online_backend(request: pytest.FixtureRequest, home: Path) -> str:
    """Each test using it runs on SQLite and (marked integration) on Redis."""
    if request.param == "redis":
        request.getfixturevalue("redis_prefix")
    return request.param
