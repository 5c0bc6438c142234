"""Keeping the webhook URL out of log records, including those of ``urllib3``.

The hook never formats the URL itself; but ``urllib3`` logs each request line (path
included) at DEBUG and retried URLs at WARNING. While a send is in flight its URL is
registered here and a filter on those loggers rewrites any record that contains it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

REDACTED = "***"

#: Path segments at least this long are treated as secret on their own (ids, tokens).
MIN_SECRET_SEGMENT = 8

#: Loggers that may print a request URL or path; filters do not inherit, so each is listed.
URL_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
    "r2p_jandi",
)


def secret_parts(url: str) -> list[str]:
    """The strings to hide for ``url``: the URL, its path, and its long path segments,
    longest first (so a longer secret is replaced before a part of it)."""
    path = urlsplit(url).path
    parts = {url, path, path.lstrip("/")}
    parts.update(seg for seg in path.split("/") if len(seg) >= MIN_SECRET_SEGMENT)
    return sorted((p for p in parts if len(p) > 1), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites records that contain a registered secret; lets every record through."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._active: tuple[str, ...] = ()

    def add(self, secrets: list[str]) -> None:
        with self._lock:
            self._counts.update(secrets)
            self._publish()

    def remove(self, secrets: list[str]) -> None:
        with self._lock:
            self._counts.subtract(secrets)
            self._counts = +self._counts  # drop the zero counts
            self._publish()

    def _publish(self) -> None:
        self._active = tuple(sorted(self._counts, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        active = self._active
        if not active:
            return True
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            if record.stack_info:
                text += "\n" + record.stack_info
        except Exception:  # a malformed record: let logging report it as it would
            return True
        if any(secret in text for secret in active):
            record.msg, record.args = redact(text, active), ()
            record.exc_info = record.exc_text = record.stack_info = None
        return True


_FILTER = _RedactingFilter()
_install_lock = threading.Lock()
_installed = False


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            for name in URL_LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _installed = True


@contextmanager
def redacting(url: str) -> Iterator[list[str]]:
    """Within this block, log records of the URL loggers never show ``url`` or its path;
    yields the secret parts (for redacting other text, such as a response body)."""
    _install()
    secrets = secret_parts(url)
    _FILTER.add(secrets)
    try:
        yield secrets
    finally:
        _FILTER.remove(secrets)
