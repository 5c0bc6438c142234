"""The model server process: REST (uvicorn) and gRPC (grpc.aio) on one event loop, around one
registry and one batcher (the inference threads, which merge requests queued together into one
``session.run`` per served version; a small request that is alone is answered on the loop,
see ``Runtime.infer``), and the online reader of the entity endpoint (Feast, imported before
listening).

On SIGTERM (or SIGINT) the server drains: ``/readyz`` answers 503 at once, requests are still
answered for ``drain_seconds`` (HTTP responses carry ``Connection: close`` so clients move to
other replicas; every gRPC connection gets a GOAWAY within ``grpc_connection_age_seconds``,
half the drain by default: gRPC's max connection age, which also lets an L4 balancer spread
long-lived connections), then both servers stop accepting, in-flight requests finish (at most
``grace_seconds``) and the process exits 0 (without tearing the interpreter down, see
``__main__``). A second SIGINT stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Generator

from r2p.serving.runtime import INLINE_ROWS, INLINE_STREAK, Batcher, Options, Runtime

__all__ = ["INLINE_ROWS", "INLINE_STREAK", "Batcher", "Options", "Runtime", "run"]
log = logging.getLogger(__name__)


def _uvicorn_server(runtime: Runtime):  # -> uvicorn.Server (imported lazily)
    import uvicorn

    from r2p.serving.rest import create_app

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield  # the drain handles signals; uvicorn's own would re-raise them at exit

    config = uvicorn.Config(
        create_app(runtime),
        host=runtime.options.host,
        port=runtime.options.http_port,
        http="httptools",
        loop="none",
        lifespan="off",
        access_log=False,  # the app logs each request with its request id
        log_config=None,
        timeout_graceful_shutdown=int(max(1, runtime.options.grace_seconds)),
        backlog=1024,
    )
    server = Server(config)
    runtime.http_tasks = server.server_state.tasks
    return server


async def serve(options: Options) -> int:
    """Run both servers until a signal has drained them; the exit code."""
    from r2p.serving.grpc_service import create_server

    runtime = Runtime(options)
    if runtime.online is not None:
        t0 = time.perf_counter()
        runtime.online.import_feast()
        log.info("entity endpoint: Feast imported in %.1fs", time.perf_counter() - t0)
    http = _uvicorn_server(runtime)
    grpc_server = create_server(runtime)
    await grpc_server.start()
    runtime.registry.start()
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task] = []

    def on_signal(sig: signal.Signals) -> None:
        if stopping and sig == signal.SIGINT:  # Ctrl-C twice: stop now
            stopping[0].cancel()
            http.force_exit = http.should_exit = True
            return
        if stopping:
            log.info("%s: already draining", sig.name)
            return
        log.info("%s: draining for %.1fs", sig.name, options.drain_seconds)
        runtime.draining = True
        runtime.metrics.ready.set(0)
        stopping.append(loop.create_task(_drain(runtime, http, grpc_server)))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    log.info(
        "serving %s: http %s:%d, grpc %s:%d",
        options.model,
        options.host,
        options.http_port,
        options.host,
        options.grpc_port,
    )
    try:
        try:
            await http.serve()
        except SystemExit:  # uvicorn's exit on a startup failure (it logged why)
            return 1
        if not http.started:
            return 1
        if stopping:
            with contextlib.suppress(asyncio.CancelledError):
                await stopping[0]
    finally:
        await grpc_server.stop(0)
        runtime.registry.stop()
        runtime.batcher.stop()
        if runtime.online is not None:
            runtime.online.stop()
    return 0


async def _drain(runtime: Runtime, http, grpc_server) -> None:
    await asyncio.sleep(runtime.options.drain_seconds)
    t0 = time.monotonic()
    http.should_exit = True  # uvicorn closes its socket and waits for in-flight requests
    await grpc_server.stop(runtime.options.grace_seconds)  # refuses new RPCs at once
    log.info("drained: grpc stopped after %.2fs", time.monotonic() - t0)


def run(options: Options) -> int:
    """Run the server on uvloop in this thread (the main thread: it owns the signals)."""
    import uvloop

    assert threading.current_thread() is threading.main_thread()
    return uvloop.run(serve(options))
