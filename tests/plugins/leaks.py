"""The check that a webhook URL leaked nowhere a person or a log collector could see it."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable through ``__cause__`` and ``__context__``."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def visible_texts(
    exc: BaseException | None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> list[str]:
    """Every text the failure produced: the exception chain (str, repr, args), its formatted
    traceback, every captured log record (message and traceback) and captured output."""
    texts: list[str] = []
    if exc is not None:
        for e in exception_chain(exc):
            texts += [str(e), repr(e), *(repr(arg) for arg in e.args)]
        texts.append("".join(traceback.format_exception(exc)))
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts += [formatter.format(record) for record in caplog.records]
    out, err = capsys.readouterr()
    return [*texts, out, err]


def assert_no_leak(
    secrets: list[str],
    exc: BaseException | None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Fail naming the first text that contains any of ``secrets``."""
    for text in visible_texts(exc, caplog, capsys):
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked into: {text[:500]!r}"
