"""Run an Airflow command with the data stages' libraries imported once, before it forks.

Every task runs in a process forked from its executor's worker (LocalExecutor's workers are
forked from the scheduler; Celery's prefork pool from the worker's main process). Without
this, each task pays for importing pyarrow, pandas, Great Expectations and Feast (which pulls
in torch) again: measured at 5-13 s per task on this machine, most of a small run's wall time.
Importing them in the parent first makes the forked task find them in ``sys.modules``, the way
gunicorn's ``--preload`` works. TensorFlow is left out on purpose: it starts threads on import
and is not fork-safe; the training tasks import it themselves.

    python -m r2p.orchestration.preload scheduler
    python -m r2p.orchestration.preload celery worker --queues default
"""

from __future__ import annotations

import importlib
import logging
import sys
import time

from r2p.orchestration.stages import STAGES

log = logging.getLogger(__name__)

# The stage modules (and through them their libraries) of the data DAG's tasks, from the
# stage table.
MODULES = (
    "pyarrow.parquet",
    "pandas",
    *(s.function.partition(":")[0] for s in STAGES if s.dag == "data"),
)


def preload(modules: tuple[str, ...] = MODULES) -> dict[str, float]:
    """Import ``modules``; seconds per module. A module that fails to import is skipped (the
    task that needs it will then fail with the real error, in its own log)."""
    seconds: dict[str, float] = {}
    for name in modules:
        t0 = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # the task reports it properly; the scheduler must start
            log.warning("preload: %s failed to import: %s", name, exc)
            continue
        seconds[name] = round(time.perf_counter() - t0, 3)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Preload, then hand over to Airflow's own command line with ``argv``."""
    args = sys.argv[1:] if argv is None else argv
    took = preload()
    print(f"r2p preload: {took}", file=sys.stderr, flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *args]
    airflow_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
