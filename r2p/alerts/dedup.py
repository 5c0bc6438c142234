"""Once: the alert state every worker sees, under the storage root, with conditional writes.

``alerts/<scope>/<key>/open.json``: created exclusively by the first sender of a problem (so
two workers failing at once send one message); ``sent-<n>.json``: the n-th re-notification
window (``renotify`` after the first), created exclusively, so each window sends once;
``resolved-<first seen>.json``: created exclusively by whoever sends "resolved", then
``open.json`` is removed. A send that fails removes what it created, so the next failure
tries again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from r2p import storage

ROOT = "alerts"
log = logging.getLogger(__name__)


def key_of(*parts: Any) -> str:
    """A short stable key for the dedup tuple."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:20]


def _dir(scope: str, key: str) -> storage.ObjectStoragePath:
    return storage.root() / ROOT / scope / key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _create(p: storage.ObjectStoragePath, data: dict[str, Any]) -> bool:
    try:
        storage.create_exclusive(p, json.dumps(data, indent=2, sort_keys=True, default=str))
    except FileExistsError:
        return False
    return True


def open_alert(
    scope: str,
    key: str,
    info: dict[str, Any],
    renotify: dt.timedelta,
    send: Callable[[int, dict[str, Any] | None], bool],
    now: dt.datetime | None = None,
) -> str:
    """Send for a problem unless it was sent already in this window.

    ``send(repeat, previous)`` delivers (repeat 0 = first time) and returns whether it did.
    Returns "sent", "renotified", "suppressed" or "failed".
    """
    now = now or _now()
    base = _dir(scope, key)
    opened = base / "open.json"
    record = {**info, "key": key, "first_seen": now.isoformat()}
    if _create(opened, record):
        if send(0, None):
            return "sent"
        opened.unlink()
        return "failed"
    try:
        previous = storage.read_json(opened)
    except FileNotFoundError:  # resolved between our two reads: a new episode
        return open_alert(scope, key, info, renotify, send, now)
    first = dt.datetime.fromisoformat(previous["first_seen"])
    window = int((now - first).total_seconds() // renotify.total_seconds())
    if window < 1:
        _count(base, now)
        return "suppressed"
    marker = base / f"sent-{window}.json"
    if not _create(marker, {"at": now.isoformat()}):
        return "suppressed"
    if send(window, previous):
        return "renotified"
    marker.unlink()
    return "failed"


def send_once(
    scope: str,
    key: str,
    info: dict[str, Any],
    renotify: dt.timedelta,
    deliver: Callable[[], bool],
) -> str:
    """:func:`open_alert` for a message that is the same on every repeat; when the dedup
    state is unreachable it is sent anyway (a duplicate beats silence)."""
    try:
        return open_alert(scope, key, info, renotify, lambda _r, _p: deliver())
    except Exception as exc:
        log.warning("alert state unavailable (%s): sending without deduplication", exc)
        return "sent_without_dedup" if deliver() else "failed"


def _count(base: storage.ObjectStoragePath, now: dt.datetime) -> None:
    """Record a suppressed repeat (best effort: a lost count only shortens a summary)."""
    p = base / "repeats.jsonl"
    try:
        old = p.read_text() if p.exists() else ""
        p.write_text(old + json.dumps({"at": now.isoformat()}) + "\n")
    except OSError:
        pass


def repeats(scope: str, key: str) -> int:
    """How many times the open problem recurred without a message."""
    p = _dir(scope, key) / "repeats.jsonl"
    return len(p.read_text().splitlines()) if p.exists() else 0


def open_alerts(scope: str) -> list[dict[str, Any]]:
    """Every open problem of ``scope`` (a DAG id), with its key."""
    base = storage.root() / ROOT / scope
    if not base.exists():
        return []
    out = []
    for d in base.iterdir():
        opened = d / "open.json"
        if opened.exists():
            try:
                out.append(storage.read_json(opened))
            except FileNotFoundError:
                continue
    return out


def resolve(scope: str, alert: dict[str, Any], send: Callable[[dict[str, Any]], bool]) -> bool:
    """Send "resolved" for ``alert`` once (exclusive marker), then close it."""
    base = _dir(scope, alert["key"])
    stamp = alert["first_seen"].replace(":", "").replace("+", "")
    marker = base / f"resolved-{stamp}.json"
    if not _create(marker, {"at": _now().isoformat(), "repeats": repeats(scope, alert["key"])}):
        return False
    if not send(alert):
        marker.unlink()
        return False
    for name in ("open.json", "repeats.jsonl"):
        p = base / name
        if p.exists():
            p.unlink()
    for p in base.iterdir():
        if p.name.startswith("sent-"):
            p.unlink()
    return True
