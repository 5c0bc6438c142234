"""The machine's services that later stages use are reachable (a failure under CI=true)."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from tests.conftest import require

pytestmark = pytest.mark.integration


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_postgres_is_ready() -> None:
    exe = shutil.which("pg_isready")
    if exe:
        done = subprocess.run(
            [exe, "-h", "127.0.0.1", "-p", "5432", "-t", "5"],
            capture_output=True,
            text=True,
            timeout=15,
        )
        require("PostgreSQL", done.returncode == 0, done.stdout.strip() or done.stderr.strip())
    else:
        require("PostgreSQL", _port_open(5432), "nothing listens on 127.0.0.1:5432")


def test_redis_answers_ping() -> None:
    import redis

    try:
        ok = redis.Redis(
            host="127.0.0.1", port=6379, socket_connect_timeout=2, socket_timeout=2
        ).ping()
        detail = "PING unanswered"
    except redis.RedisError as exc:
        ok, detail = False, str(exc)
    require("Redis", ok, detail)
