"""A real local HTTP server standing in for Jandi's incoming webhooks.

It checks every request the way Jandi would (``POST``, the two headers exactly, the JSON
shape) and answers 400 with the reason when one is wrong. Each request may be scripted: the
behaviours queued with :meth:`JandiServer.script` are used one per request, then ``"ok"``:

* ``"ok"``: 200;
* ``"500"``, ``"404"``, ... (any status): that status, the body naming the request path, as
  many real servers do (so a test can check the path is redacted);
* ``"429"`` or ``"429:<seconds>"``: 429, with ``Retry-After: <seconds>`` when given;
* ``"hang:<seconds>"``: wait that long, then 200 (a read timeout on the client's side);
* ``"close"``: drop the connection without answering.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCEPT = "application/vnd.tosslab.jandi-v2+json"
CONTENT_TYPE = "application/json"
COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
MESSAGE_KEYS = {"body", "connectColor", "connectInfo"}


@dataclass(frozen=True)
class Received:
    """One request as it arrived (``at`` is ``time.monotonic()`` on arrival)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    at: float


def wire_error(method: str, headers: dict[str, str], raw: bytes) -> str | None:
    """Why Jandi would reject this request, or None when it is well formed."""
    if method != "POST":
        return f"method must be POST, not {method}"
    if headers.get("Accept") != ACCEPT:
        return f"Accept must be {ACCEPT!r}, not {headers.get('Accept')!r}"
    if headers.get("Content-Type") != CONTENT_TYPE:
        return f"Content-Type must be {CONTENT_TYPE!r}, not {headers.get('Content-Type')!r}"
    try:
        doc = json.loads(raw)
    except ValueError:
        return "body is not JSON"
    if not isinstance(doc, dict) or set(doc) != MESSAGE_KEYS:
        return f"keys must be exactly {sorted(MESSAGE_KEYS)}"
    if not isinstance(doc["body"], str):
        return "body must be a string"
    if not isinstance(doc["connectColor"], str) or not COLOR.match(doc["connectColor"]):
        return "connectColor must be #RRGGBB"
    if not isinstance(doc["connectInfo"], list):
        return "connectInfo must be a list"
    for item in doc["connectInfo"]:
        if not isinstance(item, dict) or not {"title", "description"} <= set(item):
            return "each connectInfo entry needs title and description"
        if not set(item) <= {"title", "description", "imageUrl"}:
            return f"unknown connectInfo keys {sorted(set(item) - {'title', 'description'})}"
        if not all(isinstance(value, str) for value in item.values()):
            return "connectInfo values must be strings"
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def _handle(self) -> None:
        arrived = time.monotonic()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict(self.headers.items())
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        owner = self.server.owner
        owner.record(Received(self.command, self.path, headers, doc, arrived))
        error = wire_error(self.command, headers, raw)
        if error is not None:
            self._answer(400, {"code": 400, "msg": error})
            return
        kind, _, arg = owner.next_behaviour().partition(":")
        if kind == "close":
            self.close_connection = True
            return
        if kind == "hang":
            owner.stopping.wait(float(arg))
            kind = "ok"
        if kind == "ok":
            self._answer(200, {})
        elif kind == "429" and arg:
            self._answer(429, {"msg": "too many requests"}, {"Retry-After": arg})
        else:
            self._answer(int(kind), {"msg": f"no webhook at {self.path}"})

    def _answer(self, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None):
        body = json.dumps(doc).encode()
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timed out) first
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the default writes the request line (with the token) to stderr."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: JandiServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that timed out is expected here."""


@dataclass(frozen=True)
class Webhook:
    """A registered connection: its id, the webhook URL and the URL's secret token."""

    conn_id: str
    url: str
    token: str

    @property
    def secrets(self) -> list[str]:
        """What must never show: the token, the URL's path and the whole URL."""
        return [self.token, f"/webhook/{self.token}", self.url]


def new_token() -> str:
    """A webhook token like Jandi's: long, random, and easy to spot in any text."""
    return f"tok{secrets.token_hex(16)}"


class JandiServer:
    """The server on 127.0.0.1 and a free port, serving from a daemon thread."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.stopping = threading.Event()
        self._behaviours: deque[str] = deque()
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, token: str) -> str:
        """The webhook URL for ``token``."""
        return f"http://127.0.0.1:{self.port}/webhook/{token}"

    def script(self, behaviours: list[str]) -> None:
        """Answer the next requests with these behaviours, in order (then ``"ok"``)."""
        with self._lock:
            self._behaviours = deque(behaviours)

    def next_behaviour(self) -> str:
        with self._lock:
            return self._behaviours.popleft() if self._behaviours else "ok"

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def stop(self) -> None:
        """Stop serving and release any request still hanging."""
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
