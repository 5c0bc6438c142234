"""The promotion record: the one source of truth of which model is the champion (DESIGN §5).

Append-only, under the storage root: ``promotions/<pipeline>/record/<seq>.json``, one entry per
file, each created exclusively (a hard link locally, a conditional PUT on S3), so two writers
can never both write entry ``n``: that is the compare-and-swap the lock is built on.

An operation (promote, rollback, force) writes an ``intent`` first, a ``step`` entry after each
step, and ``committed`` (with the new champion and previous champion) last, or ``abandoned``.
The current champion is the newest committed entry's; an intent with neither is *open*: it
holds the lock until its owner finishes, or until a later operation finds the owner dead (or
its lease expired) and completes or abandons it.

Entries refer to stored objects relative to the storage root (``export_uri``, ``dataset_uri``,
... and attachments) and to serving builds relative to the serving folder, so a home can be
moved; :func:`read` gives them back absolute, against the current root and serving folder
(older entries with absolute URIs are re-based by ``r2p.storage.resolve``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r2p import storage

INTENT, STEP, COMMITTED, ABANDONED, NOTIFIED = (
    "intent",
    "step",
    "committed",
    "abandoned",
    "notified",
)
SEQ_WIDTH = 8


class RecordConflict(Exception):
    """Another writer appended the same entry number first."""


class LockTimeout(Exception):
    """Another promotion held the lock for longer than this one would wait."""


def record_name(pipeline: str) -> str:
    """Where a pipeline's record lives under the storage root."""
    return f"promotions/{pipeline}/record"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def whoami() -> dict[str, Any]:
    """The writer of an entry: host and process (to tell a dead owner from a busy one)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


@dataclass
class State:
    """The record folded: the committed champion and previous champion, and any open intent."""

    entries: list[dict[str, Any]]
    champion: dict[str, Any] | None = None
    previous_champion: dict[str, Any] | None = None
    committed: dict[str, Any] | None = None  # the newest committed entry
    open_intent: dict[str, Any] | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # of the open intent
    notified: set[str] = field(default_factory=set)  # ops whose outcome was announced

    @property
    def next_seq(self) -> int:
        return self.entries[-1]["seq"] + 1 if self.entries else 1


def _portable(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as stored: URIs relative to the storage root, builds to the serving folder."""
    return _map(storage.portable(entry), storage.relative, _relative_build)


def _absolute(entry: dict[str, Any]) -> dict[str, Any]:
    """A stored entry with absolute URIs and build paths, for this home."""
    return _map(storage.resolved(entry), storage.resolve, _absolute_build)


def _map(entry: Any, uri: Any, build: Any) -> Any:
    if isinstance(entry, list):
        return [_map(v, uri, build) for v in entry]
    if not isinstance(entry, dict):
        return entry
    out = {}
    for k, v in entry.items():
        if k == "attachments" and isinstance(v, dict):
            out[k] = {n: uri(u) if isinstance(u, str) else u for n, u in v.items()}
        elif k == "build" and isinstance(v, str):
            out[k] = build(v)
        else:
            out[k] = _map(v, uri, build)
    return out


def _relative_build(build: str) -> str:
    from r2p.home import serving_dir

    path, base = Path(build), serving_dir()
    inside = path.is_absolute() and path.is_relative_to(base)
    return str(path.relative_to(base)) if inside else build


def _absolute_build(build: str) -> str:
    from r2p.home import serving_dir

    if not Path(build).is_absolute():
        return str(serving_dir() / build)
    if not Path(build).exists() and "/.builds/" in build:  # written before the home moved
        return str(serving_dir() / ".builds" / build.split("/.builds/", 1)[1])
    return build


def read(pipeline: str) -> State:
    """Every entry in order, folded into the current state."""
    base = storage.root() / record_name(pipeline)
    entries = []
    if base.exists():
        for p in sorted(base.iterdir(), key=lambda x: x.name):
            if p.name.endswith(".json") and not p.name.startswith("."):
                entries.append(_absolute(storage.read_json(p)))
    state = State(entries)
    for e in entries:
        if e["kind"] == INTENT:
            state.steps = {}
            state.open_intent = e
        elif e["kind"] == STEP and state.open_intent and e["op"] == state.open_intent["op"]:
            state.steps[e["step"]] = e
        elif e["kind"] == NOTIFIED:
            state.notified.add(e["op"])
        elif e["kind"] in (COMMITTED, ABANDONED):
            if state.open_intent and e["op"] == state.open_intent["op"]:
                state.open_intent, state.steps = None, {}
            if e["kind"] == COMMITTED:
                state.committed = e
                state.champion = e["champion"]
                state.previous_champion = e["previous_champion"]
    return state


def append(pipeline: str, seq: int, kind: str, op: str, **fields: Any) -> dict[str, Any]:
    """Create entry ``seq`` (RecordConflict when another writer took that number)."""
    entry = {"seq": seq, "kind": kind, "op": op, "at": _now(), **whoami(), **fields}
    p = storage.root() / record_name(pipeline) / f"{seq:0{SEQ_WIDTH}d}.json"
    try:
        text = json.dumps(_portable(entry), indent=2, sort_keys=True, default=str) + "\n"
        storage.create_exclusive(p, text)
    except FileExistsError as exc:
        raise RecordConflict(f"promotion record entry {seq} of {pipeline} exists") from exc
    return entry


def new_op() -> str:
    """A fresh operation id."""
    return uuid.uuid4().hex


def owner_alive(entry: dict[str, Any], stale_after: float) -> bool:
    """Whether the writer of ``entry`` may still be working: same host and its pid is alive,
    or another host and the entry is younger than ``stale_after`` seconds."""
    if entry.get("host") == socket.gethostname():
        if int(entry["pid"]) == os.getpid():
            return False  # operations in one process are serialised: an open one of ours died
        try:
            os.kill(int(entry["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(entry["at"])
    return age.total_seconds() < stale_after


def wait_for_lock(pipeline: str, wait: float, stale_after: float, poll: float = 0.2) -> State:
    """The state once no live owner holds an open intent (an abandoned one is returned open,
    for the caller to recover); LockTimeout after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        state = read(pipeline)
        intent = state.open_intent
        if intent is None:
            return state
        last = state.entries[-1]
        if not owner_alive(last if last["op"] == intent["op"] else intent, stale_after):
            return state
        if time.monotonic() > deadline:
            raise LockTimeout(
                f"{pipeline}: promotion {intent['op'][:8]} ({intent['action']} by "
                f"{intent.get('who')}) on {intent['host']} pid {intent['pid']} has held the lock "
                f"since {intent['at']}; waited {wait:.0f} s"
            )
        time.sleep(poll)
