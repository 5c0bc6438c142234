"""Fixtures for the Jandi plugin: a local stand-in for Jandi and connections pointing at it."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import pytest

from tests.plugins.jandi_server import JandiServer, Webhook, new_token


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
