"""Argument types shared by the CLI's subcommands: each refuses a bad value with a usage
error (exit 2) that shows the value."""

from __future__ import annotations

import argparse
import datetime as dt


def date_arg(text: str) -> dt.date:
    """A ``YYYY-MM-DD`` date."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def positive_arg(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
