"""Shared by the benchmarks: pure-JSON stdout, and best-of-N timing."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable


def quiet() -> None:
    """Route the ``r2p`` logger to stderr (warnings only) instead of Airflow's stdout handler."""
    logger = logging.getLogger("r2p")
    logger.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    logger.addHandler(handler)
    noisy_loggers = (
        "absl", "tensorflow", "feast", "great_expectations", "mlflow", "airflow", "r2p_jandi",
        "py.warnings",
    )  # fmt: skip
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs of ``fn``, in seconds (the first pays warm-up)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
