"""Errors that are data problems, not flaky ones: tasks fail on them without retrying.

Anything else (a network error, a database timeout) is treated as transient and retried.
"""

from __future__ import annotations

from typing import Any


class DataError(Exception):
    """The data (or the request for it) is wrong; retrying cannot help."""


class IntervalError(DataError):
    """A run without a usable data interval (none, zero-width or not timezone-aware)."""


class LandingLate(DataError):
    """A due landing partition still has no contract at its deadline."""


class BatchRejected(DataError):
    """A landing batch was refused whole; ``record`` is its machine-readable quarantine record."""

    def __init__(self, message: str, record: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.record = record or {}


class ValidationFailed(DataError):
    """The Great Expectations suite failed; ``failures`` lists the failed expectations."""

    def __init__(self, message: str, failures: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []
