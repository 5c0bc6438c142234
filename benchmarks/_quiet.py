"""Keep benchmark stdout pure JSON: project and library logs go to stderr at WARNING."""

from __future__ import annotations

import logging
import sys


def quiet() -> None:
    """Route the ``r2p`` logger to stderr (warnings only) instead of Airflow's stdout handler."""
    logger = logging.getLogger("r2p")
    logger.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    logger.addHandler(handler)
    for noisy in ("absl", "tensorflow", "feast", "great_expectations", "mlflow", "airflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
