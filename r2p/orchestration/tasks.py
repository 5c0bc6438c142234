"""Task bodies: each a thin wrapper that runs one stage through the stage runner.

Every task of a run works on the run's config snapshot (:func:`run_config`), never on the
YAML as it is when the task starts.

Data problems (r2p.errors.DataError) become AirflowFailException, so they fail at once
without retries; anything else is left to the task's retry policy.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from r2p.orchestration.context import interval_from_context, run_id_from_context

log = logging.getLogger(__name__)


def run_config(pipeline: str, context: Any) -> tuple[Any, Any]:
    """(config, RunInfo) of a run: the config snapshot the run resolved at its start (its
    first task creates it from the YAML; every later task reads it, so an edit of the YAML
    during a run changes the next run only), and the run with the snapshot's hash.

    The snapshot is the DAG run's (its ``run_after``): a cleared task keeps the run's config;
    a run created again under the same id (``airflow dags test`` of a date) gets a new one."""
    from r2p.run_config import for_run, instance_of
    from r2p.runner import RunInfo

    run_id = run_id_from_context(context)
    instance = instance_of(getattr(context.get("dag_run"), "run_after", None))
    snap = for_run(pipeline, run_id, instance)
    return snap.config, RunInfo(pipeline, run_id, snap.config_hash)


def _run(pipeline: str, stage: str, context: Any, fn: Callable[..., dict], *args: Any) -> dict:
    from r2p.errors import DataError
    from r2p.runner import run_stage

    run_id = run_id_from_context(context)
    try:
        interval = interval_from_context(context)
        cfg, run = run_config(pipeline, context)
        return run_stage(run, stage, fn, cfg, *args, interval, run_id)
    except DataError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def ingest(pipeline: str, source: str, context: Any) -> dict:
    """Ingest one source's landing partition for the run's interval."""
    from r2p.ingest.stage import ingest_source

    return _run(pipeline, f"ingest_{source}", context, ingest_source, source)


def materialize(pipeline: str, context: Any, asset: Any, alias: Any) -> dict:
    """Load the interval into Feast, then describe it on the features asset's event (added
    through ``alias``, and left out for a backfill run that is not the newest)."""
    from r2p.features.store import materialize_interval

    out = _run(pipeline, "materialize", context, materialize_interval)
    dag_run = context.get("dag_run")
    run_type = getattr(dag_run, "run_type", None)
    run_type = str(getattr(run_type, "value", run_type))
    publish, why = publish_decision(context, run_type)
    if publish:
        extra = {
            "pipeline": pipeline,
            "run_id": run_id_from_context(context),
            "run_type": run_type,
            "interval": out["interval"],
        }
        context["outlet_events"][alias].add(asset, extra=extra)
    log.info("features/%s event %s: %s", pipeline, "emitted" if publish else "left out", why)
    return {**out, "event_emitted": publish, "event_why": why}


NEWER_RUN_DAYS = 60


def publish_decision(context: Any, run_type: str) -> tuple[bool, str]:
    """Whether this data run emits the features event: always, except a backfill run that has
    a newer run of its DAG (any state, logical dates up to 60 days later). A backfill of N
    days therefore triggers at most one training run, from its newest day, and none when it
    reloads days older than what is already loaded."""
    if run_type != "backfill":
        return True, f"a {run_type} run"
    dag_id = context["dag"].dag_id
    logical = context["logical_date"]
    later = [logical + dt.timedelta(days=k) for k in range(1, NEWER_RUN_DAYS + 1)]
    newer = context["ti"].get_dr_count(dag_id=dag_id, logical_dates=later)
    if newer:
        return False, f"a backfill run with {newer} newer run(s) of {dag_id}"
    return True, "the newest backfill run (no newer run)"


def trigger_info(context: Any) -> dict:
    """How this training run was started, and the data behind it (from the asset events).

    A run fed by backfilled data is recognisable (``from_backfill``) so it never promotes:
    its own run type is ``asset_triggered`` whatever produced the events.
    """
    import datetime as dt

    dag_run = context.get("dag_run")
    run_type = getattr(dag_run, "run_type", None)
    events = [e for evs in (context.get("triggering_asset_events") or {}).values() for e in evs]
    extras = [dict(getattr(e, "extra", None) or {}) for e in events]
    source_types = sorted({str(x.get("run_type")) for x in extras if x.get("run_type")})
    ends = [x["interval"]["end"] for x in extras if x.get("interval", {}).get("end")]
    if ends:
        cutoff = max(dt.datetime.fromisoformat(e) for e in ends).date()
    else:
        logical = context.get("logical_date") or context.get("data_interval_end")
        if logical is None:
            from r2p.errors import IntervalError

            raise IntervalError(
                "a training run needs asset events or a logical date for its "
                "window; trigger it with a logical date"
            )
        cutoff = logical.astimezone(dt.UTC).date()
    own = str(getattr(run_type, "value", run_type))
    from_backfill = own == "backfill" or "backfill" in source_types
    return {
        "run_type": own,
        "source_run_types": source_types,
        "events": len(events),
        "cutoff": cutoff.isoformat(),
        "from_backfill": from_backfill,
        "promotable": not from_backfill,
    }


def training_set(pipeline: str, context: Any) -> dict:
    """Build the point-in-time training set for the window this run covers."""
    import datetime as dt

    from r2p.errors import DataError
    from r2p.runner import run_stage
    from r2p.training_set.build import build_training_set

    run_id = run_id_from_context(context)
    try:
        trigger = trigger_info(context)
        cfg, run = run_config(pipeline, context)
        cutoff = dt.date.fromisoformat(trigger["cutoff"])
        out = run_stage(run, "training_set", build_training_set, cfg, cutoff, run_id)
    except DataError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    return {
        "dataset_uri": out["dataset_uri"],
        "manifest_uri": out["manifest_uri"],
        "trigger": trigger,
        "rows": out["manifest"]["rows"],
    }


def training_stage(pipeline: str, stage: str, context: Any, *args: Any) -> dict:
    """Run a training stage (eager_check, prototype, retrain) on XCom'd URIs.

    ``args``: the training set's outputs, then (retrain only) the prototype's and the trigger.
    """
    from r2p.errors import DataError
    from r2p.evaluation.stage import evaluate_stage
    from r2p.export import stage as export
    from r2p.runner import run_stage
    from r2p.training import stage as stages

    fn = {
        "eager_check": stages.eager_check_stage,
        "prototype": stages.prototype_stage,
        "retrain": stages.retrain_stage,
        "export": export.export_stage,
        "infra_validate": export.infra_validate_stage,
        "parity": export.parity_stage,
        "evaluate": evaluate_stage,
    }[stage]
    run_id = run_id_from_context(context)
    try:
        cfg, run = run_config(pipeline, context)
        out = run_stage(run, stage, fn, cfg, args[0], run_id, *args[1:])
    except DataError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    return {k: v for k, v in out.items() if k != "history"}


def validate(pipeline: str, context: Any) -> dict:
    """Run the Great Expectations suites on the interval's offline partitions."""
    from r2p.validation.stage import validate_partition

    return _run(pipeline, "validate", context, validate_partition)


def _champion_event(context: Any, asset: Any, pipeline: str, out: dict) -> None:
    context["outlet_events"][asset].extra = {
        "pipeline": pipeline,
        "run_id": run_id_from_context(context),
        "version": out.get("version"),
        "previous_version": out.get("previous_version"),
        "outcome": out.get("outcome"),
    }


def promote(pipeline: str, context: Any, asset: Any, dataset: dict, evaluation: dict) -> dict:
    """Carry out a ``promote`` verdict; skipped (no asset event) for any other verdict."""
    from airflow.sdk.exceptions import AirflowSkipException

    from r2p.errors import DataError
    from r2p.promotion.stage import promote_stage
    from r2p.runner import run_stage

    run_id = run_id_from_context(context)
    try:
        cfg, run = run_config(pipeline, context)
        out = run_stage(run, "promote", promote_stage, cfg, dataset, run_id, evaluation)
    except DataError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    if not out["promoted"]:
        raise AirflowSkipException(f"not promoted: {out['why']}")
    _champion_event(context, asset, pipeline, out)
    return out


def operate_promotion(pipeline: str, context: Any, asset: Any) -> dict:
    """The ``<pipeline>_promotion`` DAG: rollback, force or reconcile, from the run's params."""
    from airflow.sdk.exceptions import AirflowSkipException

    from r2p.errors import DataError
    from r2p.promotion import promote as p
    from r2p.runner import run_stage

    params = context["params"]
    run_id = run_id_from_context(context)
    who = params.get("who") or f"airflow:{run_id}"
    action, reason = params["action"], params.get("reason") or ""

    def operate(cfg: Any) -> dict:
        if action == "rollback":
            return p.rollback(cfg, reason=reason, who=who)
        if action == "force":
            if not params.get("version"):
                raise p.PromotionError("force needs the registry version to promote")
            return p.force(cfg, version=int(params["version"]), reason=reason, who=who)
        return p.reconcile(cfg, reason=reason, who=who)

    try:
        cfg, run = run_config(pipeline, context)
        out = run_stage(run, f"promotion_{action}", operate, cfg)
    except DataError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    summary = {
        "outcome": out["outcome"],
        "version": (out.get("champion") or {}).get("registry_version"),
        "previous_version": (out.get("previous_champion") or {}).get("registry_version"),
        "reason": reason,
        "who": who,
    }
    if out["outcome"] == "unchanged":
        raise AirflowSkipException(out.get("detail", "nothing changed"))
    _champion_event(context, asset, pipeline, summary)
    return summary


def freshness(pipeline: str, context: Any) -> dict:
    """Check the pipeline's freshness at the run's time (its data interval end, else now).

    ``r2p_freshness`` is not a run of the pipeline (one task per pipeline, nothing to keep
    consistent between tasks), so it reads the config as it is now, not a run snapshot."""
    import datetime as dt

    from r2p.alerts.freshness import alert_stale
    from r2p.config import load_pipeline

    now = context.get("data_interval_end") or context.get("logical_date")
    # a plain datetime (Airflow hands pendulum objects, whose arithmetic differs)
    now = dt.datetime.fromtimestamp(now.timestamp(), dt.UTC) if now else dt.datetime.now(dt.UTC)
    return alert_stale(load_pipeline(pipeline), now)
