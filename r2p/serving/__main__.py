"""``python -m r2p.serving``: serve the champion of one model over REST and gRPC.

Bad arguments exit 2 with a message; a port that cannot be bound exits 1; a drained shutdown
(SIGTERM) exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from r2p.home import ensure_airflow_home

ensure_airflow_home()  # before the server imports Airflow (through r2p.storage): never ~/airflow

from r2p.serving.server import Options, run  # noqa: E402


def _positive(kind: type) -> object:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _port(text: str) -> int:
    value = _positive(int)(text)  # type: ignore[operator]
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> Options:
    """Options from the command line (exits 2 on bad arguments)."""
    p = argparse.ArgumentParser(prog="python -m r2p.serving", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="model name: <serving dir>/<model> is served")
    p.add_argument("--http-port", type=_port, default=8501)
    p.add_argument("--grpc-port", type=_port, default=8500)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for all)")
    p.add_argument("--serving-dir", type=Path, help="default: R2P_SERVING or $R2P_HOME/serving")
    p.add_argument("--saved-model", action="store_true", help="run the SavedModel, not the .pb")
    p.add_argument("--poll-seconds", type=_positive(float), default=1.0)
    p.add_argument("--drain-seconds", type=float, default=2.0, help="keep serving after SIGTERM")
    p.add_argument("--grace-seconds", type=_positive(float), default=5.0)
    p.add_argument(
        "--grpc-connection-age-seconds",
        type=float,
        help="send each gRPC connection a GOAWAY after this long (+-10%%), so a balancer "
        "spreads reconnections and a drain moves every client; default: half the drain "
        "(at least 0.5); 0: never",
    )
    p.add_argument("--timeout-seconds", type=_positive(float), default=2.0, help="per inference")
    p.add_argument(
        "--read-timeout-seconds",
        type=_positive(float),
        default=10.0,
        help="for a request body to arrive (then 408 and the connection is closed)",
    )
    p.add_argument("--max-instances", type=_positive(int), default=1000)
    p.add_argument("--max-body-bytes", type=_positive(int), default=1 << 20)
    p.add_argument("--workers", type=_positive(int), default=2, help="inference threads")
    p.add_argument("--max-batch-rows", type=_positive(int), default=256, help="per session.run")
    p.add_argument(
        "--feature-timeout-seconds",
        type=_positive(float),
        default=1.0,
        help="per Feast online read of the entity endpoint (then 504)",
    )
    p.add_argument(
        "--no-entities",
        action="store_true",
        help="no entity endpoint: Feast is not imported (TF Serving's API only)",
    )
    p.add_argument("--feature-threads", type=_positive(int), default=2, help="Feast readers")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--no-access-log", action="store_true")
    args = p.parse_args(argv)
    if args.drain_seconds < 0:
        p.error("--drain-seconds must be >= 0")
    if args.grpc_connection_age_seconds is not None and args.grpc_connection_age_seconds < 0:
        p.error("--grpc-connection-age-seconds must be >= 0")
    if args.http_port == args.grpc_port:
        p.error("--http-port and --grpc-port must differ")
    if not args.model.replace("-", "").replace("_", "").isalnum():
        p.error(f"--model must be a plain name, got {args.model!r}")
    if args.serving_dir is None:
        from r2p.home import serving_dir

        args.serving_dir = serving_dir()
    if not args.serving_dir.is_dir():
        p.error(f"--serving-dir {args.serving_dir} is not a directory")
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.no_access_log:
        logging.getLogger("r2p.serving.access").setLevel(logging.WARNING)
    return Options(
        model=args.model,
        serving_dir=args.serving_dir.resolve(),
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        saved_model=args.saved_model,
        poll_seconds=args.poll_seconds,
        drain_seconds=args.drain_seconds,
        grace_seconds=args.grace_seconds,
        grpc_connection_age=args.grpc_connection_age_seconds,
        timeout_seconds=args.timeout_seconds,
        read_timeout_seconds=args.read_timeout_seconds,
        max_instances=args.max_instances,
        max_body_bytes=args.max_body_bytes,
        workers=args.workers,
        max_batch_rows=args.max_batch_rows,
        feature_timeout_seconds=args.feature_timeout_seconds,
        feature_threads=args.feature_threads,
        entities=not args.no_entities,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse, serve until drained, and return the exit code."""
    options = parse_args(argv)
    try:
        return run(options)
    except OSError as exc:
        print(f"r2p.serving: {exc}", file=sys.stderr)
        return 1


def exit_now(code: int) -> None:
    """Exit without tearing down the interpreter: after a drained stop there is nothing left
    to do, and garbage-collecting TensorFlow's, Feast's and Airflow's heap took seconds, long
    enough for a supervisor to think the server hung."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
