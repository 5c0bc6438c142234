"""Fixtures for the Jandi plugin: a local stand-in for Jandi and connections pointing at it."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.plugins.jandi_server import JandiServer, Webhook, new_token


@pytest.fixture
def jandi_server() -> Iterator[JandiServer]:
    """A running stand-in for Jandi on a free loopback port."""
    server = JandiServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Webhook]:
    """``connect(conn_id, url)`` registers ``AIRFLOW_CONN_<ID>`` as JSON with the whole URL
    in ``host``; keyword arguments replace the connection's fields (``host=None`` drops it)."""

    def register(conn_id: str, url: str, **fields: Any) -> Webhook:
        conn = {"conn_type": "http", "host": url, **fields}
        conn = {key: value for key, value in conn.items() if value is not None}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return Webhook(conn_id, url, url.rsplit("/", 1)[-1])

    return register


@pytest.fixture
def webhook(jandi_server: JandiServer, connect: Callable[..., Webhook]) -> Webhook:
    """Connection ``jandi_test`` pointing at the local server with a fresh secret token."""
    return connect("jandi_test", jandi_server.url(new_token()))


@pytest.fixture
def dead_webhook(connect: Callable[..., Webhook]) -> Webhook:
    """Connection ``jandi_dead`` pointing at a closed loopback port (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return connect("jandi_dead", f"http://127.0.0.1:{port}/webhook/{new_token()}")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record at DEBUG and above, urllib3's and requests' included."""
    caplog.set_level(logging.DEBUG)
    return caplog
