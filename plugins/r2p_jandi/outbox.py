"""The outbox: messages for a connection that is not configured, as JSON lines on disk.

With no Jandi connection (the embedded default), the exact request that would have been
posted goes to ``$R2P_HOME/outbox/jandi.jsonl``, one JSON object per line::

    {"conn_id": ..., "sent_at": "<UTC ISO time>", "headers": {...}, "payload": {...}}

Each line is written with a single ``write`` on a descriptor opened with ``O_APPEND``, so
concurrent writers on one host never interleave or overwrite each other's lines.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from r2p.home import home

log = logging.getLogger("r2p_jandi")


def outbox_path() -> Path:
    """``$R2P_HOME/outbox/jandi.jsonl`` (the folder is created)."""
    folder = home() / "outbox"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "jandi.jsonl"


def append_outbox(
    conn_id: str,
    headers: Mapping[str, str],
    payload: Mapping[str, Any],
    path: Path | None = None,
) -> Path:
    """Append one message as one line to the outbox (default: :func:`outbox_path`); returns
    the file's path. Raises ``OSError`` when the line could not be written whole."""
    path = path or outbox_path()
    record = {
        "conn_id": conn_id,
        "sent_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "headers": dict(headers),
        "payload": payload,
    }
    line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
    finally:
        os.close(fd)
    if written != len(line):
        raise OSError(f"short write to the outbox {path}: {written} of {len(line)} bytes")
    return path


def read_outbox(path: Path | str | None = None) -> list[dict[str, Any]]:
    """Every message in the outbox, oldest first ([] when there is none). A line that is not
    valid JSON (a writer killed mid-line) is skipped with a warning."""
    path = Path(path) if path is not None else outbox_path()
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("outbox %s: line %d is not valid JSON; skipped", path, number)
    return records
