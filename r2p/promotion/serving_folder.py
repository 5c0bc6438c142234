"""The serving folder: TF Serving's layout ``<base>/<model>/<version>/``, holding the champion
only (TF Serving serves the highest version, which would undo a rollback).

``<base>/<model>`` is a symlink to a complete build under ``<base>/.builds/<model>/``. A new
champion is built beside the old one, loaded and warmed by the server's own loader in a
separate process, and then made current by one ``rename`` of a new symlink over the old one:
a reader sees the old folder or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from r2p import storage
from r2p.errors import DataError
from r2p.export.export import CONTRACT, PB, SAVED_MODEL
from r2p.home import serving_dir

KEEP_BUILDS = 5


class PublishError(DataError):
    """The model cannot be loaded or answer by the server's loader: it is not published."""


def builds_dir(model: str) -> Path:
    path = serving_dir() / ".builds" / model
    path.mkdir(parents=True, exist_ok=True)
    return path


def served(model: str) -> dict[str, Any] | None:
    """What the serving folder holds now: version, folder, pb sha256 (None when empty)."""
    link = serving_dir() / model
    if not link.exists():
        return None
    versions = [p for p in link.iterdir() if p.name.isdigit()]
    if len(versions) != 1:
        raise RuntimeError(f"{link} must hold exactly one version, found {versions}")
    contract = json.loads((versions[0] / CONTRACT).read_text())
    return {
        "version": int(versions[0].name),
        "path": str(versions[0]),
        "build": os.readlink(link),
        "pb_sha256": contract["pb_sha256"],
    }


def stage(model: str, version: int, export_uri: str, timeout: float = 300) -> Path:
    """Build ``<version>/`` (SavedModel files at its top, ``model.pb``, ``contract.json``) in a
    new build folder, and load and warm it in a fresh process; PublishError if that fails."""
    build = builds_dir(model) / f"{version}-{uuid.uuid4().hex[:8]}"
    target = build / str(version)
    base = storage.path(export_uri)
    try:
        for p in base.rglob("*"):
            if not p.is_file():
                continue
            rel = str(p)[len(str(base)) :].lstrip("/")
            if rel.startswith(f"{SAVED_MODEL}/"):
                rel = rel[len(SAVED_MODEL) + 1 :]
            elif rel not in (PB, CONTRACT):
                continue
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(p.read_bytes())
        check(target, timeout)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return build


def check(folder: Path, timeout: float = 300) -> dict[str, Any]:
    """Load and warm ``folder`` (frozen .pb and SavedModel) with the server's loader in one
    separate process; PublishError naming what failed."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "r2p.serving.loader",
            str(folder),
            "--formats",
            "frozen_pb,saved_model",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    report = json.loads(lines[-1]) if lines else {"ok": False, "error": done.stderr[-800:]}
    if not report.get("ok"):
        raise PublishError(f"the model server's loader refused {folder}: {report['error']}")
    return report["formats"]


def switch(model: str, build: Path) -> None:
    """Make ``build`` the served folder with one atomic rename of a symlink."""
    base = serving_dir()
    tmp = base / f".{model}.{uuid.uuid4().hex[:8]}.link"
    os.symlink(os.path.relpath(build, base), tmp)
    os.replace(tmp, base / model)
    _prune(model, keep={build.name})


def _prune(model: str, keep: set[str]) -> None:
    builds = sorted(builds_dir(model).iterdir(), key=lambda p: p.stat().st_mtime)
    for old in builds[:-KEEP_BUILDS]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def discard(build: Path | str | None) -> None:
    """Remove a staged build that will not be published (never the served one)."""
    if not build:
        return
    build = Path(build)
    link = serving_dir() / build.parent.name
    if link.exists() and Path(os.path.realpath(link)) == build.resolve():
        return
    shutil.rmtree(build, ignore_errors=True)
