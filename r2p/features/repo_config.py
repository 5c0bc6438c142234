"""Feast's configuration: ``feature_repo/feature_store.yaml`` expanded from the environment.

The YAML file is the template and the embedded default (file registry, SQLite online store
under ``$R2P_HOME/feast``). ``R2P_FEAST_ONLINE_STORE`` (``redis://...``) and
``R2P_FEAST_REGISTRY`` (``postgresql://...``) replace its ``online_store`` and ``registry``
sections with the production backends, always with the deployment's timeouts
(``r2p.config.schema.Backends``, ``Timeouts``). :func:`resolved_yaml` writes the result for
Feast's own CLI (``python -m r2p.features plan``), so it sees exactly what the pipeline sees.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from feast.repo_config import RepoConfig

from r2p.config.schema import Backends, Timeouts
from r2p.home import REPO_ROOT, home

REPO = REPO_ROOT / "feature_repo"
LOCK_KEY = 0x7232705F66656173  # the advisory lock of r2p's Feast registry ("r2p_feas")


class RegistryUnavailable(ConnectionError):
    """Feast's SQL registry could not be reached within its timeouts."""


def registry_address(url: str) -> str:
    """``host:port/database`` of a registry URL (never its credentials)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


def feast_home() -> Path:
    """Feast's registry and online store folder under the home (created on use)."""
    os.environ["R2P_HOME"] = str(home())  # feature_store.yaml reads ${R2P_HOME}
    path = home() / "feast"
    path.mkdir(parents=True, exist_ok=True)
    return path


def postgres_connect_args(bounds: Timeouts | None = None) -> dict[str, Any]:
    """libpq connection parameters bounding connect time and every statement."""
    bounds = bounds or Timeouts.from_env()
    return {
        "connect_timeout": max(2, math.ceil(bounds.connect_timeout)),  # libpq: whole seconds, >= 2
        "options": f"-c statement_timeout={int(bounds.statement_timeout * 1000)}",
    }


def registry_config(url: str, bounds: Timeouts | None = None) -> dict[str, Any]:
    """The ``registry`` section for Feast's SQL registry on PostgreSQL at ``url``."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        url = f"postgresql+psycopg://{rest}"
    return {
        "registry_type": "sql",
        "path": url,
        "cache_ttl_seconds": 0,
        "sqlalchemy_config_kwargs": {
            "echo": False,
            "pool_pre_ping": True,
            "connect_args": postgres_connect_args(bounds),
        },
    }


def raw_config(offline_store: str | None = None) -> dict[str, Any]:
    """feature_store.yaml expanded from the environment, with the selected backends."""
    from r2p.features.redis_store import online_store_config

    feast_home()
    raw = yaml.safe_load(os.path.expandvars((REPO / "feature_store.yaml").read_text()))
    backends = Backends.from_env()
    if backends.feast_online_store not in (None, "sqlite"):
        raw["online_store"] = online_store_config(backends.feast_online_store)
    if backends.feast_registry not in (None, "file"):
        raw["registry"] = registry_config(backends.feast_registry)
    if offline_store is not None:
        raw["offline_store"] = {"type": offline_store}
    return raw


def repo_config(offline_store: str | None = None) -> RepoConfig:
    """The RepoConfig the pipeline uses (``offline_store`` replaces the offline store type)."""
    config = RepoConfig(**raw_config(offline_store))
    config.repo_path = REPO
    return config


def resolved_yaml() -> Path:
    """Write the resolved configuration to ``$R2P_HOME/feast/feature_store.yaml`` (for
    ``feast -f``); it holds no secret beyond what the environment already gives Feast."""
    path = feast_home() / "feature_store.yaml"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(yaml.safe_dump(raw_config(), sort_keys=False))
    tmp.rename(path)
    return path


@contextmanager
def registry_lock(wait_seconds: float = 600.0) -> Iterator[None]:
    """Serialise registry writers: a file lock under the home for the file registry; for the
    SQL registry a PostgreSQL advisory lock, which writers on every machine see and which a
    killed holder's closed connection releases. TimeoutError after ``wait_seconds``."""
    backends = Backends.from_env()
    if backends.feast_registry in (None, "file"):
        from filelock import FileLock

        with FileLock(str(feast_home() / "registry.lock"), timeout=wait_seconds):
            yield
        return
    import psycopg

    url = backends.feast_registry.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True, **postgres_connect_args()) as conn:
        deadline = time.monotonic() + wait_seconds
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Feast registry lock (PostgreSQL at {registry_address(url)}) still held "
                    f"by another writer after {wait_seconds:.0f} s"
                )
            time.sleep(0.2)
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
