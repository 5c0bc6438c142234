"""The ``r2p stack`` subcommand: its arguments and what each action prints."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    """Register ``stack up|down|status`` on the ``r2p`` subparsers."""
    stack = sub.add_parser("stack", help="the production-shaped Airflow stack: up, down, status")
    actions = stack.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="migrate the database and start everything, supervised")
    up.add_argument("--db-url", help="SQLAlchemy URL (env R2P_STACK_DB_URL)")
    up.add_argument("--api-port", type=int, help="api-server port (env R2P_STACK_API_PORT)")
    up.add_argument("--executor", choices=["local", "celery"], help="env R2P_STACK_EXECUTOR")
    up.add_argument("--parallelism", type=int, help="task slots (env R2P_STACK_PARALLELISM)")
    up.add_argument("--broker-url", help="Celery broker (env R2P_STACK_BROKER_URL)")
    up.add_argument("--with-model-server", metavar="PIPELINE", help="also serve its champion")
    up.add_argument("--model-http-port", type=int, help="env R2P_STACK_MODEL_HTTP_PORT")
    up.add_argument("--model-grpc-port", type=int, help="env R2P_STACK_MODEL_GRPC_PORT")
    up.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for health")
    actions.add_parser("down", help="stop every program by its own PID; nothing is left")
    status = actions.add_parser("status", help="pid, uptime, restarts and Airflow's health")
    status.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Carry out ``r2p stack ACTION``; the exit status."""
    from r2p.stack import StackConfig, StackError, down, format_status, status, up

    if args.action == "up":
        flags = {
            "db_url": args.db_url,
            "api_port": args.api_port,
            "executor": args.executor,
            "parallelism": args.parallelism,
            "broker_url": args.broker_url,
            "model": args.with_model_server,
            "model_http_port": args.model_http_port,
            "model_grpc_port": args.model_grpc_port,
        }
        cfg = StackConfig(**{k: v for k, v in flags.items() if v is not None})
        try:
            timings = up(cfg, timeout=args.timeout)
        except StackError as exc:
            print(f"r2p: stack up failed: {exc}")
            return 1
        print(format_status(status()))
        print(f"up in {timings['up_seconds']:.1f} s (migrate {timings['migrate_seconds']:.1f} s)")
        return 0
    if args.action == "down":
        leftovers = down()
        print("stack down" + (f"; killed leftovers: {leftovers}" if leftovers else ""))
        return 0
    report = status()
    print(json.dumps(report, indent=2) if args.json else format_status(report))
    return 0 if report["supervisor"] else 3
