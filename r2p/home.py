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


def serving_dir() -> Path:
    """The serving folder the model server reads: ``R2P_SERVING`` or ``$R2P_HOME/serving``."""
    path = Path(os.environ.get("R2P_SERVING", home() / "serving")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def lock_file() -> Path:
    """The pinned resolution of the whole stack, hashed into every reuse key."""
    return REPO_ROOT / "constraints.txt"


def ensure_airflow_home() -> None:
    """Point ``AIRFLOW_HOME`` at ``$R2P_HOME/airflow`` unless it is set. Entry points call
    this before anything imports Airflow, which otherwise creates ``~/airflow`` on import."""
    base = Path(os.environ.get("R2P_HOME", ".r2p")).expanduser().resolve()
    os.environ.setdefault("AIRFLOW_HOME", str(base / "airflow"))


def airflow_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for Airflow commands on the embedded default: its home under ``R2P_HOME``.

    Values already set in ``base`` (default: this process's environment) win, so production
    settings (PostgreSQL, Celery) pass through unchanged.
    """
    env = dict(os.environ if base is None else base)
    env.setdefault("R2P_HOME", str(home()))
    defaults = {
        "AIRFLOW_HOME": str(home() / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "GX_ANALYTICS_ENABLED": "False",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    return env
