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
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
)
from airflow.sdk import task as task_decorator

from r2p.alerts.deadline import deadline_hours, deadline_missed
from r2p.alerts.failure import FailureNotifier
from r2p.alerts.killed import record_attempt
from r2p.config.schema import PipelineConfig
from r2p.orchestration import pools, tasks
from r2p.orchestration.assets import (
    champion_asset,
    features_alias,
    features_asset,
)
from r2p.orchestration.dagtest_batch import DAG_TEST_ENV
from r2p.orchestration.landing_sensor import LandingSensor
from r2p.orchestration.stages import stage

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


def default_args(cfg: PipelineConfig, **overrides: Any) -> dict[str, Any]:
    """Every task's defaults: retries of transient errors from ``cfg.tasks``, and the failure
    notifier (called after the last try only; retries stay silent)."""
    return {
        "owner": "r2p",
        "retries": cfg.tasks.retries,
        "retry_delay": dt.timedelta(seconds=cfg.tasks.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(seconds=cfg.tasks.max_retry_delay_seconds),
        "retry_policy": RETRY_POLICY,
        "execution_timeout": dt.timedelta(hours=2),
        "on_failure_callback": FailureNotifier(cfg.pipeline),
        "on_execute_callback": record_attempt,  # try and host, for a task killed silently
        **overrides,
    }


def deadline(cfg: PipelineConfig, kind: str) -> Any:
    """On-call hears when a ``kind`` run is unfinished ``alerts.deadlines`` after queued.

    None when the DAG is parsed for a ``dag.test()`` run: r2p's runners
    (``r2p.orchestration.dagtest``) say so in the environment (``R2P_DAG_TEST=1``). Such a run
    has no triggerer to call the deadline, and Airflow 3.3.2's ``dag.test()`` crashes when a
    run with a deadline succeeds (``DagRun.update_state`` looks the serialized alerts up as
    ids); a raw ``airflow dags test`` needs ``R2P_DAG_TEST=1`` in front for the same reason.
    """
    import os

    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    if os.environ.get(DAG_TEST_ENV, "").lower() in ("1", "true", "yes"):
        return None
    hours = deadline_hours(cfg, kind)
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=dt.timedelta(hours=hours),
        callback=AsyncCallback(
            deadline_missed, kwargs={"pipeline": cfg.pipeline, "kind": kind, "hours": hours}
        ),
    )


def stage_task(cfg: PipelineConfig, name: str, **overrides: Any) -> Any:
    """The task of stage ``name`` (the stage table's entry): the one generic wrapper, given
    the entry's pool and trigger rule. Call it with the upstream outputs (the training set
    first) and, per source or per candidate, ``source=`` / ``model=``."""
    entry = stage(name)
    pipeline = cfg.pipeline

    def body(*upstream: Any, **context: Any) -> Any:
        params = {k: context.pop(k) for k in ("model", "source") if k in context}
        if "model" in params:  # the mapped instance's name in the UI: the candidate
            from airflow.sdk import get_current_context

            get_current_context()["r2p_model"] = params["model"]
        return tasks.run_task(pipeline, name, context, *upstream, **params)

    body.__name__ = body.__qualname__ = name
    body.__doc__ = f"{entry.function}: reads {entry.reads}; writes {entry.writes}"
    options: dict[str, Any] = {"task_id": name, "trigger_rule": entry.trigger_rule}
    if entry.pool:
        options["pool"] = entry.pool
    if entry.per == "model":
        options["map_index_template"] = "{{ r2p_model }}"
    return task_decorator(**(options | overrides))(body)


def _notify_task(pipeline: str, kind: str) -> Any:
    """The run's last task: resolve or summarise a succeeded run, keep a failed one failed."""

    def notify(**context: Any) -> dict:
        from r2p.alerts.run_end import finish_run

        return finish_run(pipeline, kind, context)

    return task_decorator(task_id="notify", trigger_rule="all_done", retries=0)(notify)()


def _last(dag: DAG) -> DAG:
    """Every task upstream of ``notify``: it runs when no task is running or retrying."""
    notify = dag.get_task("notify")
    for t in dag.tasks:
        if t is not notify and t.task_id not in notify.upstream_task_ids:
            t >> notify
    return dag


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
        default_args=default_args(cfg),
        deadline=deadline(cfg, "data"),
        tags=["r2p", pipeline, "data"],
        doc_md=_doc(cfg),
    ) as dag:
        validate = stage_task(cfg, "validate")()
        materialize = stage_task(cfg, "materialize", outlets=[features_alias(pipeline)])()
        validate >> materialize >> _notify_task(pipeline, "data")
        for source in cfg.source_names:
            wait = LandingSensor(task_id=f"wait_{source}", pipeline=pipeline, source=source)
            ingest = stage_task(cfg, "ingest", task_id=f"ingest_{source}")(source=source)
            wait >> ingest >> validate
    return _last(dag)


def build_training_dag(cfg: PipelineConfig) -> DAG:
    """The ``<pipeline>_training`` DAG: on the features asset (or the config's cron)."""
    from airflow.sdk import CronTriggerTimetable

    pipeline = cfg.pipeline
    schedule: Any = (
        [features_asset(pipeline)]
        if cfg.training.schedule is None
        else CronTriggerTimetable(cfg.training.schedule, timezone="UTC")
    )
    timeout = dt.timedelta(minutes=cfg.training.timeout_minutes)
    with DAG(
        dag_id=f"{pipeline}_training",
        schedule=schedule,
        start_date=dt.datetime.combine(cfg.start_date, dt.time(), dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(cfg, execution_timeout=timeout),
        deadline=deadline(cfg, "training"),
        tags=["r2p", pipeline, "training"],
        doc_md=_training_doc(cfg),
    ) as dag:
        data = stage_task(cfg, "training_set")()
        candidates = _candidates(cfg).partial(data=data).expand(model=[m.name for m in cfg.models])
        evaluation = stage_task(cfg, "evaluate")(data, candidates)
        promoted = stage_task(cfg, "promote", outlets=[champion_asset(pipeline)])(data, evaluation)
        evaluation >> promoted >> _notify_task(pipeline, "training")
    return _last(dag)


def _candidates(cfg: PipelineConfig) -> Any:
    """One candidate's chain, mapped over ``models:`` (task ids unprefixed: ``prototype``,
    one mapped instance per model); a failed candidate stops only its own chain."""
    from airflow.sdk import task_group

    @task_group(group_id="candidate", prefix_group_id=False)
    def candidate(model: str, data: Any) -> Any:
        check = stage_task(cfg, "eager_check")(data, model=model)
        proto = stage_task(cfg, "prototype")(data, model=model)
        retrain = stage_task(cfg, "retrain")(data, proto, model=model)
        exported = stage_task(cfg, "export")(data, retrain, model=model)
        infra = stage_task(cfg, "infra_validate")(data, exported, model=model)
        parity = stage_task(cfg, "parity")(data, proto, exported, retrain, model=model)
        check >> proto
        infra >> parity
        return parity

    return candidate


def build_promotion_dag(cfg: PipelineConfig) -> DAG:
    """``<pipeline>_promotion``: manual; roll back, force a registry version, or reconcile."""
    from airflow.sdk import Param

    pipeline = cfg.pipeline
    asset = champion_asset(pipeline)
    with DAG(
        dag_id=f"{pipeline}_promotion",
        schedule=None,
        start_date=dt.datetime.combine(cfg.start_date, dt.time(), dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(cfg, retries=0),
        tags=["r2p", pipeline, "promotion"],
        params={
            "action": Param("rollback", enum=["rollback", "force", "reconcile"]),
            "version": Param(None, type=["null", "integer"], minimum=1),
            "reason": Param("", type="string", minLength=1),
            "who": Param(None, type=["null", "string"]),
        },
        doc_md=(
            f"# {pipeline}_promotion\n\nManual. `rollback` makes `previous_champion` the "
            f"champion again; `force` makes registry `version` the champion without gates; "
            f"`reconcile` brings the registry aliases and the serving folder back to the "
            f"promotion record. Every action needs a `reason`; the record keeps it with who "
            f"and when. Same as `r2p promotion rollback|force|reconcile {pipeline}`.\n"
        ),
    ) as dag:
        task_decorator(task_id="operate", outlets=[asset], pool=pools.PROMOTION)(
            _operate(pipeline)
        )()
    return dag


def _operate(pipeline: str) -> Any:
    def operate(**context: Any) -> dict:
        return tasks.operate_promotion(pipeline, context, champion_asset(pipeline))

    return operate


def _training_doc(cfg: PipelineConfig) -> str:
    trigger = (
        f"the `features/{cfg.pipeline}` asset"
        if cfg.training.schedule is None
        else f"cron `{cfg.training.schedule}`"
    )
    return (
        f"# {cfg.pipeline}_training\n\nTriggered by {trigger}; one run at a time.\n\n"
        f"- **training_set**: labels that arrived in the {cfg.training.window_days} days before "
        f"the cutoff (the newest asset event's interval end, else the logical date), joined "
        f"point in time through the model's FeatureService; records the trigger, and whether "
        f"the data came from a backfill (such a run never promotes).\n"
        f"- **eager_check**: one batch through TensorFlow eagerly; shapes and dtypes against "
        f"the spec and PyTorch.\n- **prototype**: PyTorch, cached by spec, data and code.\n"
        f"- **retrain**: TensorFlow graph mode (traced once), tracked in MLflow.\n"
        f"- **export**: SavedModel + frozen `.pb` + contract.json (same model, same bytes).\n"
        f"- **infra_validate**: a fresh process loads the `.pb` and the SavedModel, checks the "
        f"contract, no variables left, golden inputs agree within 1e-5, latency.\n"
        f"- **parity**: TF against the PyTorch prototype on the test split; a failure is "
        f"not retried and nothing is promoted.\n"
        f"- **evaluate**: candidate vs champion vs a logistic-regression baseline on labels "
        f"newer than both trained on; gates (floors, paired-bootstrap improvement on "
        f"`{cfg.gates.improvement.metric}`, data recency, no backfilled data); writes "
        f"`decision.json` and an HTML report.\n"
        f"- **promote**: only on a `promote` verdict: promotion record, registry aliases, "
        f"serving folder; emits `model/{cfg.pipeline}/champion`. Skipped otherwise.\n"
    )


def build_freshness_dag(cfgs: list[PipelineConfig]) -> DAG:
    """``r2p_freshness``: hourly, one check per pipeline (DESIGN §6, freshness)."""
    from airflow.sdk import CronTriggerTimetable

    with DAG(
        dag_id="r2p_freshness",
        schedule=CronTriggerTimetable("17 * * * *", timezone="UTC"),
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["r2p", "freshness"],
        doc_md=(
            "# r2p_freshness\n\nHourly: every pipeline's newest partitions, labels and "
            "champion against their limits (`alerts.freshness`); a stale one alerts its "
            "route once and is resolved when fresh again. Runs outside the pipelines' DAGs, "
            "so a pipeline that stopped is noticed.\n"
        ),
    ) as dag:
        for cfg in cfgs:
            task_decorator(
                task_id=f"check_{cfg.pipeline}",
                retries=1,
                retry_delay=dt.timedelta(seconds=60),
                on_failure_callback=FailureNotifier(cfg.pipeline),
                execution_timeout=dt.timedelta(minutes=10),
            )(_freshness_body(cfg.pipeline))()
    return dag


def _freshness_body(pipeline: str):
    def check(**context: Any) -> dict:
        return tasks.freshness(pipeline, context)

    return check
