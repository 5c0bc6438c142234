"""The DAG factory: each pipeline config becomes its DAGs, with no code per dataset.

``<pipeline>_data``: daily on an explicit CronDataIntervalTimetable (the partition is the
UTC date of the interval's start); per source ``wait_<source>`` (deferrable, until the
deadline) then ``ingest_<source>``; then ``validate``. Parsing imports nothing heavy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
)
from airflow.sdk import task as task_decorator

from r2p.config.schema import PipelineConfig
from r2p.orchestration import tasks
from r2p.orchestration.landing_sensor import LandingSensor

# Data problems fail at once (tasks turn them into AirflowFailException); among the rest,
# errors of the network, the database or the file system are transient and retried with
# backoff; anything else is a bug, and retrying a bug only delays the page.
TRANSIENT = [
    "builtins.ConnectionError",
    "builtins.TimeoutError",
    "builtins.OSError",
    "sqlalchemy.exc.OperationalError",
    "botocore.exceptions.EndpointConnectionError",
    "botocore.exceptions.ConnectTimeoutError",
    "botocore.exceptions.ReadTimeoutError",
]
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception="r2p.errors.DataError",
            action=RetryAction.FAIL,
            reason="a data problem, not a flaky one",
        ),
        RetryRule(exception=TRANSIENT, action=RetryAction.RETRY, reason="transient error"),
    ],
    default=RetryAction.FAIL,
)
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "r2p",
    "retries": 3,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=10),
    "retry_policy": RETRY_POLICY,
    "execution_timeout": dt.timedelta(hours=2),
}


def _doc(cfg: PipelineConfig) -> str:
    sources = ", ".join(f"`{s.name}` ({s.kind}, {s.cadence})" for s in cfg.dataset.sources)
    return (
        f"# {cfg.pipeline}_data\n\n{cfg.description}\n\n"
        f"Daily, one run per data interval; partition = UTC date of `data_interval_start`.\n\n"
        f"- **wait_<source>**: deferrable, for the landing contract "
        f"(`{cfg.landing.contract}`) until interval end + {cfg.landing.deadline_hours} h; "
        f"skipped when the source is not due.\n"
        f"- **ingest_<source>**: coerce to the declared schema; batch defects refuse the batch "
        f"(quarantine record), row defects are quarantined up to "
        f"{cfg.landing.max_bad_row_fraction:.2%}; "
        f"commits `offline/{cfg.dataset.name}/<source>/ds=…/`.\n"
        f"- **validate**: Great Expectations suites; results JSON and Data Docs under "
        f"`validation/{cfg.dataset.name}/ds=…/`. A failed suite is not retried.\n"
        f"- **materialize**: publish the partitions to Feast, apply the definitions, "
        f"`materialize(start, end)` of exactly this interval; emits `features/{cfg.pipeline}` "
        f"with the run type and interval in the event's extra.\n\n"
        f"Sources: {sources}; labels `{cfg.dataset.label.name}` "
        f"(+{cfg.dataset.label.delay_days} d). Rerun a day: "
        f"`airflow tasks clear {cfg.pipeline}_data -s <ds> -e <ds>`.\n"
    )


def build_data_dag(cfg: PipelineConfig) -> DAG:
    """The ``<pipeline>_data`` DAG of one pipeline config."""
    pipeline = cfg.pipeline
    with DAG(
        dag_id=f"{pipeline}_data",
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        start_date=dt.datetime.combine(cfg.start_date, dt.time(), dt.UTC),
        catchup=False,
        max_active_runs=4,
        default_args=DEFAULT_ARGS,
        tags=["r2p", pipeline, "data"],
        doc_md=_doc(cfg),
    ) as dag:
        validate = task_decorator(task_id="validate", trigger_rule="none_failed_min_one_success")(
            _validate_body(pipeline)
        )()
        asset = features_asset(pipeline)
        materialize = task_decorator(task_id="materialize", outlets=[asset])(
            _materialize_body(pipeline, asset)
        )()
        validate >> materialize
        for source in cfg.source_names:
            wait = LandingSensor(task_id=f"wait_{source}", pipeline=pipeline, source=source)
            ingest = task_decorator(task_id=f"ingest_{source}")(_ingest_body(pipeline, source))()
            wait >> ingest >> validate
    return dag


def _ingest_body(pipeline: str, source: str):
    def ingest(**context: Any) -> dict:
        return tasks.ingest(pipeline, source, context)

    return ingest


def features_asset(pipeline: str) -> Asset:
    """The asset a data run emits once its interval is in Feast (extra: run type, interval)."""
    return Asset(name=f"features/{pipeline}", uri=f"r2p://features/{pipeline}")


def _materialize_body(pipeline: str, asset: Asset):
    def materialize(**context: Any) -> dict:
        return tasks.materialize(pipeline, context, asset)

    return materialize


def _validate_body(pipeline: str):
    def validate(**context: Any) -> dict:
        return tasks.validate(pipeline, context)

    return validate
