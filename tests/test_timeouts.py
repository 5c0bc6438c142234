"""A hung dependency fails an operation within its bound instead of hanging it (DESIGN §7).

The dependency is a local TCP server that accepts every connection and never answers: the
worst kind, since a refused connection fails fast by itself. Each client gets the same small
bounds from the environment (``r2p.config.schema.Timeouts``) and must raise an error naming
the dependency's address within twice ``Timeouts.bound()``.
"""

from __future__ import annotations

import datetime as dt
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from r2p.config.schema import Timeouts

pytestmark = pytest.mark.timeout(120)
BOUNDS = {
    "R2P_CONNECT_TIMEOUT": "1",
    "R2P_READ_TIMEOUT": "1",
    "R2P_NETWORK_RETRIES": "1",
    "R2P_RETRY_BACKOFF": "0.1",
}


class Blackhole:
    """Accepts connections on a loopback port, reads and discards, never writes a byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.1):
                if key.fileobj is self.sock:
                    conn, _ = self.sock.accept()
                    self.accepted += 1
                    sel.register(conn, selectors.EVENT_READ)
                elif not key.fileobj.recv(65536):  # the client gave up
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
        for key in list(sel.get_map().values()):
            key.fileobj.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def hung(monkeypatch: pytest.MonkeyPatch) -> Iterator[Blackhole]:
    """A hung dependency, and the small bounds every client takes from the environment."""
    for var, value in BOUNDS.items():
        monkeypatch.setenv(var, value)
    server = Blackhole()
    try:
        yield server
    finally:
        server.stop()


def fails_within_bound(operation: Callable[[], object], server: Blackhole) -> str:
    """Run ``operation``; it must raise within 2 x the bound. Returns the error text."""
    bound = Timeouts.from_env().bound()
    start = time.monotonic()
    with pytest.raises(Exception) as caught:
        operation()
    elapsed = time.monotonic() - start
    assert elapsed < 2 * bound, f"took {elapsed:.1f}s, bound {bound:.1f}s"
    assert server.accepted >= 1, "the client never reached the hung dependency"
    text = _chain(caught.value)
    assert str(server.port) in text, text  # the error names the dependency's address
    return text


def _chain(exc: BaseException | None) -> str:
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(parts)


def test_redis_online_store_write_and_read(churn, hung, monkeypatch) -> None:
    from r2p.features.redis_store import OnlineStoreUnavailable
    from r2p.features.store import apply_definitions, feature_store
    from tests.features.helpers import online, write_activity

    monkeypatch.setenv("R2P_FEAST_ONLINE_STORE", f"redis://{hung.address}/0")
    store = feature_store()
    apply_definitions(store, churn)  # the registry is local; Redis is not touched yet
    event = dt.datetime(2026, 11, 16, 12, tzinfo=dt.UTC)
    text = fails_within_bound(lambda: write_activity(store, [(event, 1)]), hung)
    assert f"Feast online store (Redis at {hung.address} db 0) failed to write" in text
    text = fails_within_bound(lambda: online(feature_store(), churn, [1]), hung)
    assert OnlineStoreUnavailable.__name__ in text and "failed to read" in text


def test_mlflow_tracking_server(home: Path, hung, monkeypatch) -> None:
    import mlflow.tracking.request_header.registry  # noqa: F401 - a slow first import, not I/O

    from r2p.training.tracking import find_run

    for var in ("TIMEOUT", "MAX_RETRIES", "BACKOFF_FACTOR", "BACKOFF_JITTER"):
        monkeypatch.delenv(f"MLFLOW_HTTP_REQUEST_{var}", raising=False)  # restored afterwards
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://{hung.address}")
    text = fails_within_bound(lambda: find_run("churn", "any-key"), hung)
    assert "mlflow" in text.lower()


def test_s3_storage(home: Path, hung, monkeypatch) -> None:
    import json

    from r2p import storage

    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": f"http://{hung.address}", "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_R2P_HUNG_S3", json.dumps(conn))
    monkeypatch.setenv("R2P_STORAGE", "s3://r2p/hung")
    monkeypatch.setenv("R2P_STORAGE_CONN_ID", "r2p_hung_s3")
    pointer = storage.root() / "x.json"  # builds the client (no request yet)
    text = fails_within_bound(lambda: storage.read_json(pointer), hung)
    assert "timeout" in text.lower()


def test_feast_sql_registry_on_postgresql(home: Path, hung, monkeypatch) -> None:
    from r2p.features.store import feature_store

    monkeypatch.setenv("R2P_FEAST_REGISTRY", f"postgresql://postgres@{hung.address}/r2p")
    # libpq's connect_timeout is whole seconds, at least 2: the bound uses what it gets
    monkeypatch.setenv("R2P_CONNECT_TIMEOUT", "2")
    text = fails_within_bound(feature_store, hung)
    assert f"Feast SQL registry (PostgreSQL at {hung.address}/r2p) is unreachable" in text


def test_bounds_come_from_the_environment_over_one_set_of_defaults(monkeypatch) -> None:
    assert Timeouts.from_env() == Timeouts()
    for var, value in BOUNDS.items():
        monkeypatch.setenv(var, value)
    bounds = Timeouts.from_env()
    assert (bounds.connect_timeout, bounds.read_timeout, bounds.network_retries) == (1, 1, 1)
    assert bounds.bound() == pytest.approx(2 * (1 + 1) + 0.1)


def test_mlflow_tracking_store_on_postgresql(home: Path, hung, monkeypatch) -> None:
    from r2p.training.tracking import find_run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"postgresql://postgres@{hung.address}/mlflow")
    monkeypatch.setenv("R2P_CONNECT_TIMEOUT", "2")  # libpq's minimum
    text = fails_within_bound(lambda: find_run("churn", "any-key"), hung)
    assert f"MLflow tracking store (PostgreSQL at {hung.address}/mlflow) is unreachable" in text
