"""Task bodies: each a thin wrapper that runs one stage through the stage runner.

Data problems (r2p.errors.DataError) become AirflowFailException, so they fail at once
without retries; anything else is left to the task's retry policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from r2p.orchestration.context import interval_from_context, run_id_from_context


def _run(pipeline: str, stage: str, context: Any, fn: Callable[..., dict], *args: Any) -> dict:
    from r2p.config import load_pipeline
    from r2p.errors import DataError
    from r2p.runner import RunInfo, run_stage

    run_id = run_id_from_context(context)
    try:
        interval = interval_from_context(context)
        cfg = load_pipeline(pipeline)
        return run_stage(RunInfo(pipeline, run_id), stage, fn, cfg, *args, interval, run_id)
    except DataError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def ingest(pipeline: str, source: str, context: Any) -> dict:
    """Ingest one source's landing partition for the run's interval."""
    from r2p.ingest.stage import ingest_source

    return _run(pipeline, f"ingest_{source}", context, ingest_source, source)


def materialize(pipeline: str, context: Any, asset: Any) -> dict:
    """Load the interval into Feast, then describe it on the features asset's event."""
    from r2p.features.store import materialize_interval

    out = _run(pipeline, "materialize", context, materialize_interval)
    dag_run = context.get("dag_run")
    run_type = getattr(dag_run, "run_type", None)
    context["outlet_events"][asset].extra = {
        "pipeline": pipeline,
        "run_id": run_id_from_context(context),
        "run_type": str(getattr(run_type, "value", run_type)),
        "interval": out["interval"],
    }
    return out


def validate(pipeline: str, context: Any) -> dict:
    """Run the Great Expectations suites on the interval's offline partitions."""
    from r2p.validation.stage import validate_partition

    return _run(pipeline, "validate", context, validate_partition)
