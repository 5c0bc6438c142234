"""Task bodies: each a thin wrapper that runs one stage through the stage runner.

Every task of a run works on the run's config snapshot (:func:`run_config`), never on the
YAML as it is when the task starts.

Data problems (r2p.errors.DataError) become AirflowFailException, so they fail at once
without retries; anything else is left to the task's retry policy.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    """Run ``fn(cfg, *args, interval, run_id)`` as stage record ``stage`` of the context's run."""
    from r2p.runner import run_stage

    with _data_errors_fail():
        interval = interval_from_context(context)
        cfg, run = run_config(pipeline, context)
        return run_stage(run, stage, fn, cfg, *args, interval, run_id_from_context(context))


@contextmanager
def _data_errors_fail(skip: tuple[str, ...] = ()) -> Iterator[None]:
    """A data problem fails the task at once (no retries), or skips it when its type is one
    of ``skip``; anything else is left to the task's retry policy."""
    from airflow.sdk.exceptions import AirflowSkipException

    from r2p.errors import DataError

    try:
        yield
    except DataError as exc:
        if type(exc).__name__ in skip:
            raise AirflowSkipException(f"{type(exc).__name__}: {exc}") from exc
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def run_task(pipeline: str, name: str, context: Any, *upstream: Any, **params: Any) -> Any:
    """The one task wrapper: run stage ``name`` of the stage table for the context's run.

    The function gets the run's config snapshot and, by the stage's ``call``, the interval,
    the cutoff or the training set (``upstream[0]``) with the other upstream outputs; then
    the stage's Airflow side (asset events, skips), if it has one, sees its result."""
    from r2p.orchestration.stages import stage
    from r2p.runner import run_stage

    entry = stage(name)
    run_id = run_id_from_context(context)
    with _data_errors_fail(entry.skip_on):
        cfg, run = run_config(pipeline, context)
        of = len(cfg.models)
        label = entry.label(of=of, **params)
        kwargs = {k: params[k] for k in entry.params if k != "source"}
        fn = entry.load()
        if entry.call == "interval":
            source = (params["source"],) if "source" in entry.params else ()
            args = (*source, interval_from_context(context), run_id)
        elif entry.call == "cutoff":
            trigger = trigger_info(context)
            args = (dt.date.fromisoformat(trigger["cutoff"]), run_id)
            params["trigger"] = trigger
        else:
            args = (upstream[0], run_id, *_inputs(name, cfg, run, upstream, params))
        out = run_stage(run, label, fn, cfg, *args, **kwargs)
    after = AFTER.get(name)
    return after(pipeline, context, out, upstream, params) if after else out


def _inputs(name: str, cfg: Any, run: Any, upstream: tuple, params: dict) -> tuple:
    """The upstream outputs a training-DAG stage takes after the training set."""
    if name == "evaluate":
        return (with_failures(cfg, run, _collected(upstream[1])),)
    return tuple(upstream[1:])


def _collected(outputs: Any) -> list[dict]:
    """The mapped candidates' outputs as a list: Airflow hands the value itself when the
    group was mapped over one model, and None when that one failed."""
    if outputs is None:
        return []
    if isinstance(outputs, dict):
        return [outputs]
    return list(outputs)


def _publish_features(pipeline: str, context: Any, out: dict, *_: Any) -> dict:
    """After ``materialize``: describe the interval on the features asset's event (added
    through the alias, and left out for a backfill run that is not the newest)."""
    from r2p.orchestration.assets import features_alias, features_asset

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
        context["outlet_events"][features_alias(pipeline)].add(
            features_asset(pipeline), extra=extra
        )
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
    return run_task(pipeline, "training_set", context)


def _training_set_out(pipeline: str, context: Any, out: dict, _: tuple, params: dict) -> dict:
    """What the training DAG's tasks get of the training set: URIs, trigger, row count."""
    return {
        "dataset_uri": out["dataset_uri"],
        "manifest_uri": out["manifest_uri"],
        "trigger": params["trigger"],
        "rows": out["manifest"]["rows"],
    }


def _slim(pipeline: str, context: Any, out: dict, *_: Any) -> dict:
    """A training stage's outputs without its per-epoch history (that is in its record)."""
    return {k: v for k, v in out.items() if k != "history"}


def _candidate(pipeline: str, context: Any, out: dict, upstream: tuple, params: dict) -> dict:
    """After ``parity``, a candidate that passed: what evaluation ranks."""
    return {"model": params["model"], "export": upstream[2], "parity": out}


def with_failures(cfg: Any, run: Any, passed: list[dict]) -> list[dict]:
    """The candidates that passed parity, and one entry per model that did not: the first
    of its stages that failed, from the run's stage records."""
    from r2p.orchestration.stages import STAGES
    from r2p.runner import manifest

    names = {c.get("model") for c in passed}
    records = manifest(run)["stages"]
    out = list(passed)
    for spec in cfg.models:
        if spec.name in names:
            continue
        labels = {
            s.label(of=len(cfg.models), model=spec.name): s.name for s in STAGES if s.per == "model"
        }
        failed = sorted(
            (r for label, r in records.items() if label in labels and r["status"] == "failed"),
            key=lambda r: r["started_at"],
        )
        if failed:
            err = failed[0]["error"] or {}
            where = labels[failed[0]["stage"]]
            error = f"{err.get('type', 'Error')}: {err.get('message', '')}"
        else:
            where, error = "-", "did not finish (see the task's Airflow log)"
        out.append({"model": spec.name, "failed": {"stage": where, "error": error}})
    return out


def _champion_event(context: Any, asset: Any, pipeline: str, out: dict) -> None:
    context["outlet_events"][asset].extra = {
        "pipeline": pipeline,
        "run_id": run_id_from_context(context),
        "version": out.get("version"),
        "previous_version": out.get("previous_version"),
        "outcome": out.get("outcome"),
    }


def _promoted(pipeline: str, context: Any, out: dict, *_: Any) -> dict:
    """After ``promote``: a promotion emits the champion asset; any other verdict skips."""
    from airflow.sdk.exceptions import AirflowSkipException

    from r2p.orchestration.assets import champion_asset

    if not out["promoted"]:
        raise AirflowSkipException(f"not promoted: {out['why']}")
    _champion_event(context, champion_asset(pipeline), pipeline, out)
    return out


AFTER: dict[str, Callable[..., Any]] = {
    "materialize": _publish_features,
    "training_set": _training_set_out,
    "eager_check": _slim,
    "prototype": _slim,
    "retrain": _slim,
    "export": _slim,
    "infra_validate": _slim,
    "parity": _candidate,
    "promote": _promoted,
}


def operate_promotion(pipeline: str, context: Any, asset: Any) -> dict:
    """The ``<pipeline>_promotion`` DAG: rollback, force or reconcile, from the run's params."""
    from airflow.sdk.exceptions import AirflowSkipException

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

    with _data_errors_fail():
        cfg, run = run_config(pipeline, context)
        out = run_stage(run, f"promotion_{action}", operate, cfg)
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
