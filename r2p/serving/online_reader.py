"""Feast online reads off the event loop, each bounded by a timeout (the server never hangs on
a slow or locked store).

A few daemon threads, each with a FeatureStore of its own (its own SQLite connection). The spec
of a served version (its feature service, join key, views and TTLs) is resolved once, in the
background as soon as the version is loaded, and again 5 s after a failure (until then
requests are told of the failure at once); a new version makes every thread re-read the Feast
registry before its next read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from r2p.serving.online import Feature, OnlineSpec, read, resolve
from r2p.serving.registry import Served

log = logging.getLogger(__name__)
T = TypeVar("T")
KEEP_SPECS = 2  # the current version and the one being replaced
RETRY_SECONDS = 5.0


class StoreUnavailable(Exception):
    """The online store failed or cannot feed the model (HTTP 503)."""


class StoreTimeout(Exception):
    """The online store did not answer in time (HTTP 504)."""


class _DaemonPool:
    """Worker threads that never hold up the process's exit (a Feast read stuck on a locked
    store, or the first import of Feast, must not delay a drained shutdown)."""

    def __init__(self, threads: int) -> None:
        self.jobs: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple] | None]
        self.jobs = queue.SimpleQueue()
        for i in range(threads):
            threading.Thread(target=self._work, name=f"feast-{i}", daemon=True).start()
        self.threads = threads

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        self.jobs.put((future, fn, args))
        return future

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue  # its request timed out before a thread was free
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the request that waits for it
                future.set_exception(exc)

    def shutdown(self) -> None:
        for _ in range(self.threads):
            self.jobs.put(None)


class OnlineReader:
    """Resolves served versions' specs and reads entities' features, with a timeout."""

    def __init__(self, threads: int, timeout_seconds: float) -> None:
        self.timeout = timeout_seconds
        self.pool = _DaemonPool(threads)
        self._local = threading.local()
        self._generation = 0
        self._specs: dict[Path, Future[OnlineSpec]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def import_feast() -> None:
        """Import Feast and the storage layer and open a feature store now, before the server
        listens: seconds of CPU under the GIL that, in the background, would stall requests.
        Feast imports PyTorch eagerly (for an optional tensor conversion this server never
        uses), so the server process, which runs TensorFlow only, blocks that import: ~10 s
        and hundreds of MB less. The server's logging (stderr, its format) is kept: importing
        Airflow (the storage layer) replaces the root logger's handlers."""
        sys.modules.setdefault("torch", None)  # type: ignore[arg-type]
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        import feast.type_map  # noqa: F401

        import r2p.storage  # noqa: F401
        from r2p.features.store import feature_store

        root.handlers[:] = handlers  # Airflow's import swaps in its own
        root.setLevel(level)

        try:
            feature_store()  # the first FeatureStore costs a second of CPU, later ones ms
        except Exception as exc:  # reported again (503) by the requests that need it
            log.warning("entity endpoint: cannot open the feature store: %s", exc)

    def _store(self) -> Any:
        local = self._local
        if getattr(local, "generation", None) != self._generation:
            from r2p.features.store import feature_store

            local.store, local.generation = feature_store(), self._generation
        return local.store

    def prepare(self, served: Served) -> Future[OnlineSpec]:
        """The future spec of ``served`` (resolution starts now unless it is under way or
        done; a failed one is retried)."""
        with self._lock:
            future = self._specs.get(served.folder)
            if future is None or self._retry(future):
                self._generation += 1  # a new version or a retry: re-read the registry
                future = self.pool.submit(self._resolve, served.contract)
                future.add_done_callback(self._stamp)
                self._specs.pop(served.folder, None)
                self._specs[served.folder] = future
                for old in list(self._specs)[:-KEEP_SPECS]:
                    del self._specs[old]
            return future

    @staticmethod
    def _stamp(future: Future[OnlineSpec]) -> None:
        future.done_at = time.monotonic()  # type: ignore[attr-defined]

    @staticmethod
    def _retry(future: Future[OnlineSpec]) -> bool:
        """A failed resolution is answered (503) for RETRY_SECONDS, then tried again."""
        if not future.done() or not (future.cancelled() or future.exception()):
            return False
        return time.monotonic() - getattr(future, "done_at", 0.0) > RETRY_SECONDS

    def _resolve(self, contract: dict[str, Any]) -> OnlineSpec:
        try:
            spec = resolve(self._store(), contract)
            sample = 0 if spec.key_dtype == "int64" else "-"
            read(self._store(), spec, [sample], dt.datetime.now(dt.UTC))  # warm the connection
        except Exception as exc:
            log.warning("entity endpoint of %s unavailable: %s", contract.get("model_uri"), exc)
            raise
        log.info("entity endpoint: %s by %s", spec.service, spec.join_key)
        return spec

    def _read(self, spec: OnlineSpec, keys: list[Any]) -> list[dict[str, Feature]]:
        return read(self._store(), spec, keys, dt.datetime.now(dt.UTC))

    async def spec(self, served: Served) -> OnlineSpec:
        """The spec of ``served``; StoreUnavailable or StoreTimeout."""
        shared = asyncio.wrap_future(self.prepare(served))
        return await self._bounded(asyncio.shield(shared), "resolving the feature service")

    async def read(self, spec: OnlineSpec, keys: list[Any]) -> list[dict[str, Feature]]:
        """Each entity's features now; StoreUnavailable or StoreTimeout."""
        future = asyncio.wrap_future(self.pool.submit(self._read, spec, keys))
        return await self._bounded(future, "reading the online store")

    async def _bounded(self, awaitable: Awaitable[T], what: str) -> T:
        try:
            return await asyncio.wait_for(awaitable, self.timeout)
        except TimeoutError:
            message = f"feature store: no answer within {self.timeout}s ({what})"
            raise StoreTimeout(message) from None
        except Exception as exc:  # any store failure is the store's, not the request's
            raise StoreUnavailable(
                f"feature store unavailable ({what}): {type(exc).__name__}: {exc}"[:400]
            ) from None

    def stop(self) -> None:
        """Let the threads end (reads under way finish)."""
        self.pool.shutdown()
