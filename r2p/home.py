"""Where runtime state lives: everything under ``R2P_HOME``, artifacts under ``R2P_STORAGE``.

``R2P_HOME`` defaults to ``./.r2p`` (resolved against the working directory once); the
storage root defaults to ``file://$R2P_HOME/storage``. Tests point both at a temporary home.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """The r2p home folder (created on first use)."""
    path = Path(os.environ.get("R2P_HOME", ".r2p")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def storage_uri() -> str:
    """The storage root URI: ``R2P_STORAGE`` or ``file://$R2P_HOME/storage``."""
    uri = os.environ.get("R2P_STORAGE")
    if uri:
        return uri.rstrip("/")
    return f"file://{home() / 'storage'}"


def landing_uri() -> str:
    """The landing zone URI: ``R2P_LANDING`` or ``<storage root>/landing``."""
    return os.environ.get("R2P_LANDING", f"{storage_uri()}/landing").rstrip("/")


def storage_conn_id() -> str | None:
    """The Airflow connection used for a remote storage root (``R2P_STORAGE_CONN_ID``)."""
    return os.environ.get("R2P_STORAGE_CONN_ID") or None


def logs_dir() -> Path:
    """Per-run log files live here."""
    path = home() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def configs_dir() -> Path:
    """The pipeline configs folder: ``R2P_CONFIGS`` or the repository's ``configs/``."""
    return Path(os.environ.get("R2P_CONFIGS", REPO_ROOT / "configs"))


def lock_file() -> Path:
    """The pinned resolution of the whole stack, hashed into every reuse key."""
    return REPO_ROOT / "constraints.txt"
