"""The stack's PostgreSQL database: created when missing, dropped on request (tests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url


def _admin(url: str) -> tuple[Any, str]:
    """A connection to the server's ``postgres`` database (autocommit) and the target name."""
    import psycopg2

    parsed = make_url(url)
    conn = psycopg2.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
        connect_timeout=5,
        options="-c statement_timeout=30000",
    )
    conn.autocommit = True
    return conn, str(parsed.database)


def is_postgres(url: str) -> bool:
    """True for a ``postgresql[+driver]://`` URL."""
    return make_url(url).get_backend_name() == "postgresql"


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; True when it was created."""
    from psycopg2 import sql

    conn, name = _admin(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def drop_database(url: str) -> None:
    """Drop the database named in ``url`` (closing its sessions first); no error if absent."""
    from psycopg2 import sql

    conn, name = _admin(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    finally:
        conn.close()
