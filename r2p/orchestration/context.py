"""What a task takes from its Airflow context: the interval, the run id, the DAG id."""

from __future__ import annotations

from typing import Any

from r2p.intervals import Interval, interval_of


def interval_from_context(context: Any) -> Interval:
    """The run's data interval, refused (IntervalError) when missing or zero-width."""
    dag_id = getattr(context.get("dag"), "dag_id", None) or "this DAG"
    return interval_of(context.get("data_interval_start"), context.get("data_interval_end"), dag_id)


def run_id_from_context(context: Any) -> str:
    """The Airflow run id (``manual__…``, ``scheduled__…``, ``backfill__…``)."""
    return str(context["run_id"])
