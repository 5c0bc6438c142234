"""The Jandi stand-in, connection fixtures (shared with the plugin's tests) and the routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.plugins.jandi_server import JandiServer, new_token

ROUTES = ("on_call", "data_engineering", "ml_owners", "team")


@dataclass
class Routes:
    server: JandiServer
    tokens: dict[str, str]

    def inbox(self, route: str) -> list[dict]:
        """The messages that arrived for ``route`` (well-formed ones: the server checks)."""
        path = f"/webhook/{self.tokens[route]}"
        return [r.json for r in self.server.requests if r.path == path]

    def others(self, route: str) -> list[dict]:
        return [m for r in ROUTES if r != route for m in self.inbox(r)]


@pytest.fixture
def routes(jandi_server: JandiServer, connect: Callable, churn) -> Routes:
    """Each route of the shipped configs is a connection to the local server."""
    tokens = {}
    for route in ROUTES:
        tokens[route] = new_token()
        connect(getattr(churn.alerts, route), jandi_server.url(tokens[route]))
    return Routes(jandi_server, tokens)


def text_of(message: dict) -> str:
    return (
        message["body"]
        + "\n"
        + "\n".join(f"{i['title']}: {i['description']}" for i in message["connectInfo"])
    )
