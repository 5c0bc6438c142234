"""Code version and lock-file hash: part of every run record and every reuse key."""

from __future__ import annotations

import functools
import hashlib
import subprocess

from r2p.home import REPO_ROOT, lock_file

# Folders whose source defines what the pipeline computes.
_SOURCE_DIRS = ("r2p", "dags", "plugins", "feature_repo")


@functools.cache
def source_hash() -> str:
    """sha256 over the project's Python sources (paths and bytes), so an uncommitted fix counts."""
    digest = hashlib.sha256()
    for folder in _SOURCE_DIRS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def git_commit() -> str | None:
    """The checked-out commit, with ``-dirty`` when the work tree differs; None outside git."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def code_version() -> str:
    """A short, stable name for the code that runs: ``src-<first 12 hex of source_hash>``."""
    return f"src-{source_hash()[:12]}"


@functools.cache
def lock_hash() -> str:
    """sha256 of the pinned constraints file (``missing`` when it is absent)."""
    path = lock_file()
    if not path.exists():
        return "missing"
    return hashlib.sha256(path.read_bytes()).hexdigest()
