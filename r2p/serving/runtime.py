"""What both protocols share, in one process: the server's options, the registry, the metrics,
the online reader of the entity endpoint and the batcher (inference threads that merge
requests queued together into one ``session.run`` per served version; a small request that
is alone is answered on the loop, see ``Runtime.infer``), and the drain state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Generator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from r2p.serving.metrics import Metrics
from r2p.serving.online_reader import OnlineReader
from r2p.serving.registry import ModelRegistry, Served

log = logging.getLogger(__name__)
INLINE_ROWS = 8  # at most this many rows are answered on the event loop (a lone request)
INLINE_STREAK = 4  # ... and at most this many such requests in a row (see Runtime._alone)


@dataclass(frozen=True)
class Options:
    """How the server runs (the command line's options)."""

    model: str
    serving_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 8501
    grpc_port: int = 8500
    saved_model: bool = False
    poll_seconds: float = 1.0
    drain_seconds: float = 2.0
    grace_seconds: float = 5.0
    grpc_connection_age: float | None = None  # GOAWAY after this (s); None: see property; 0: never
    timeout_seconds: float = 2.0
    read_timeout_seconds: float = 10.0  # for a request body to arrive (then 408)
    max_instances: int = 1000
    max_body_bytes: int = 1 << 20
    workers: int = 2
    max_batch_rows: int = 256
    feature_timeout_seconds: float = 1.0
    feature_threads: int = 2
    entities: bool = True

    @property
    def grpc_connection_age_seconds(self) -> float:
        """Each gRPC connection's age at its GOAWAY: as given, else half the drain (at least
        0.5 s, so every client is moved within a drain); 0 (never) when there is no drain."""
        if self.grpc_connection_age is not None:
            return self.grpc_connection_age
        return max(0.5, self.drain_seconds / 2) if self.drain_seconds > 0 else 0.0


@dataclass
class _Job:
    served: Served
    columns: dict[str, list]
    rows: int
    future: Future


class Batcher:
    """Inference threads that merge the requests queued at the same moment into one batch per
    served version: under load one ``session.run`` answers many requests; a lone request waits
    for nothing. Each answer is its own rows of the batch, from the version it was checked
    against."""

    def __init__(self, threads: int, max_rows: int, metrics: Metrics | None = None) -> None:
        self.max_rows = max_rows
        self.metrics = metrics
        self.queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._pending = 0  # submitted, not yet answered (or given up)
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, name=f"infer-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, served: Served, columns: dict[str, list], rows: int) -> Future:
        """A future of the probabilities for ``rows`` rows of ``columns``."""
        future: Future = Future()
        with self._lock:
            self._pending += 1
        future.add_done_callback(self._done)
        self.queue.put(_Job(served, columns, rows, future))
        return future

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending -= 1

    def idle(self) -> bool:
        """No request is queued or being answered by the threads."""
        return self._pending == 0

    def stop(self) -> None:
        """Let the threads end once the queue is empty."""
        for _ in self.threads:
            self.queue.put(None)

    def _run(self) -> None:
        while (job := self.queue.get()) is not None:
            jobs, rows = [job], job.rows
            while rows < self.max_rows:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.queue.put(None)  # the stop is for this thread or another one
                    break
                jobs.append(more)
                rows += more.rows
            for served in {id(j.served): j.served for j in jobs}.values():
                self._answer(served, [j for j in jobs if j.served is served])

    def _answer(self, served: Served, jobs: list[_Job]) -> None:
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]  # not timed out
        if not jobs:
            return
        if self.metrics is not None:
            self.metrics.batch.observe(len(jobs))
        try:
            if len(jobs) == 1:
                jobs[0].future.set_result(served.predict(jobs[0].columns))
                return
            merged = {name: [v for j in jobs for v in j.columns[name]] for name in jobs[0].columns}
            proba = served.predict(merged)
        except Exception as exc:  # the model failed: every request of the batch is told
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(exc)
            return
        start = 0
        for j in jobs:
            j.future.set_result(proba[start : start + j.rows])
            start += j.rows


class Runtime:
    """What both protocols share: the registry, metrics, the batcher and the drain state."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.metrics = Metrics(options.model)
        self.online = (
            OnlineReader(options.feature_threads, options.feature_timeout_seconds)
            if options.entities
            else None
        )
        self.registry = ModelRegistry(
            options.model,
            options.serving_dir,
            saved_model=options.saved_model,
            poll_seconds=options.poll_seconds,
            on_reload=self._on_reload,
        )
        self.batcher = Batcher(options.workers, options.max_batch_rows, self.metrics)
        self.draining = False
        self.active = 0  # requests being answered (both protocols; event-loop thread only)
        self.inline_streak = 0  # requests answered on the loop since one went to the batcher
        self.http_tasks: set = set()  # uvicorn's request tasks, started or not (set by serve)

    @contextlib.contextmanager
    def answering(self) -> Generator[None, None, None]:
        """Count a request as in flight (the gauge and the inline rule) while it is answered."""
        self.active += 1
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.active -= 1
            self.metrics.in_flight.dec()

    def _on_reload(self, event: Any) -> None:
        """Metrics for every load attempt; a loaded version's feature service is resolved in
        the background; on-call hears of a failed load (in the background: the watcher goes
        on, the old version keeps serving)."""
        self.metrics.on_reload(event)
        if event.ok and self.online is not None and self.registry.current is not None:
            self.online.prepare(self.registry.current)
        if not event.ok:
            from r2p.alerts.serving import reload_failed

            current = getattr(getattr(self, "registry", None), "current", None)
            served = current.version if current is not None else None
            threading.Thread(
                target=reload_failed,
                args=(self.options.model, event.version, event.error or "", served),
                daemon=True,
            ).start()

    @property
    def ready(self) -> bool:
        """A model is loaded and warmed and the server is not draining."""
        return self.registry.current is not None and not self.draining

    def _alone(self) -> bool:
        """This request is the only one around: none other in flight or queued, and fewer
        than INLINE_STREAK answered on the loop in a row. (While the loop answers a request,
        others that arrive cannot start: under load every request would then look alone
        and be answered one by one. Sending every INLINE_STREAK-th to the threads lets the
        waiting ones start, see each other, and batch.)"""
        return (
            self.active <= 1
            and len(self.http_tasks) <= 1
            and self.inline_streak < INLINE_STREAK
            and self.batcher.idle()
        )

    async def infer(self, served: Served, columns: dict[str, list], rows: int) -> np.ndarray:
        """Probabilities from ``served`` (checked columns); TimeoutError after the limit.

        A small request that is the only one in flight is answered right here: with nothing to
        batch it with, the hand-off to a thread and back would only add latency (~0.25 ms,
        where the batch-1 model run takes ~0.1 ms). With any other request in flight it goes
        to the batcher, even when the threads happen to be idle: answering on the loop would
        stall every other connection and serialise the load one row per model run (with the
        ~1 ms model runs of the first loader it halved throughput at 64 connections)."""
        if rows <= INLINE_ROWS and self._alone():
            self.inline_streak += 1
            self.metrics.inline.inc()
            t0 = time.perf_counter()
            proba = served.predict(columns)
            if time.perf_counter() - t0 > self.options.timeout_seconds:
                raise TimeoutError
            return proba
        self.inline_streak = 0
        future = asyncio.wrap_future(self.batcher.submit(served, columns, rows))
        return await asyncio.wait_for(future, self.options.timeout_seconds)
