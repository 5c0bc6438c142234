"""A run that is not finished in time pages on-call: the ``DeadlineAlert`` of the data and
training DAGs (``alerts.deadlines`` hours after the run was queued) calls
:func:`deadline_missed` in the triggerer.

Sent once per DAG until one of its runs succeeds (the run-end task resolves the DAG's open
alerts, this one included) or ``alerts.renotify_hours`` pass; a notification that fails is
logged, never raised.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

log = logging.getLogger(__name__)
ERROR_TYPE = "DeadlineMissed"


def span(hours: float) -> str:
    """``12 h``, ``1.5 h``, ``20 min``, ``30 s``."""
    if hours >= 1:
        return f"{hours:g} h"
    if hours * 60 >= 1:
        return f"{hours * 60:.3g} min"
    return f"{hours * 3600:.3g} s"


def deadline_message(cfg: Any, dag_id: str, hours: float, context: dict[str, Any]) -> Any:
    """The on-call message for a missed deadline, from the context Airflow sends the callback
    (``dag_run``: the run as the REST API shows it; ``deadline``: its id and time)."""
    from r2p_jandi import JandiMessage

    from r2p.alerts.outcomes import DEADLINE_MISSED

    run = context.get("dag_run") or {}
    run_id = run.get("dag_run_id") or run.get("run_id") or "?"
    deadline = (context.get("deadline") or {}).get("deadline_time")
    return JandiMessage(
        f"[{cfg.pipeline}] {DEADLINE_MISSED.title}: {dag_id} run {run_id} not finished "
        f"{span(hours)} after it was queued",
        DEADLINE_MISSED.severity,
        [
            ("Run", f"{dag_id}  run {run_id}  type {run.get('run_type', '?')}  "
             f"state {run.get('state', '?')}"),
            ("When", f"queued {run.get('queued_at', '?')}, started {run.get('start_date') or '-'}"
             f", deadline {deadline or '?'}"),
            ("Do", f"airflow tasks states-for-dag-run {dag_id} '{run_id}'  (which task is slow, "
             "stuck in a sensor or queued without a worker; `r2p ready` checks the stack)"),
            ("Runbook", f"{cfg.alerts.runbook_url}#{DEADLINE_MISSED.runbook}"),
        ],
    )  # fmt: skip


def alert_deadline(
    pipeline: str, kind: str, context: dict[str, Any], hours: float | None = None
) -> str:
    """Page on-call once for ``<pipeline>_<kind>`` missing its deadline; the dedup status."""
    from r2p.alerts import dedup
    from r2p.alerts.outcomes import DEADLINE_MISSED
    from r2p.alerts.send import deliver
    from r2p.config import load_pipeline

    cfg = load_pipeline(pipeline)
    dag_id = f"{pipeline}_{kind}"
    hours = hours if hours is not None else deadline_hours(cfg, kind)
    message = deadline_message(cfg, dag_id, hours, context)
    conn_id = DEADLINE_MISSED.conn_id(cfg.alerts)
    run_id = (context.get("dag_run") or {}).get("dag_run_id") or "?"
    info = {"outcome": DEADLINE_MISSED.name, "route": DEADLINE_MISSED.route, "conn_id": conn_id,
            "dag_id": dag_id, "task_id": "deadline", "error_type": ERROR_TYPE,
            "where": f"{span(hours)} after queued", "run_id": run_id}  # fmt: skip
    return dedup.send_once(
        dag_id,
        dedup.key_of(dag_id, "deadline", ERROR_TYPE, "-"),
        info,
        dt.timedelta(hours=cfg.alerts.renotify_hours),
        lambda: deliver(conn_id, message),
    )


def deadline_hours(cfg: Any, kind: str) -> float:
    """The configured deadline of the ``kind`` ("data" or "training") DAG, in hours."""
    return getattr(cfg.alerts.deadlines, f"{kind}_hours")


async def deadline_missed(
    pipeline: str, kind: str, context: dict[str, Any] | None = None, hours: float | None = None
) -> None:
    """The ``AsyncCallback`` of the DAGs' ``DeadlineAlert`` (runs in the triggerer)."""
    try:
        status = await asyncio.to_thread(alert_deadline, pipeline, kind, context or {}, hours)
        log.info("deadline alert for %s_%s: %s", pipeline, kind, status)
    except Exception:  # never raise into the triggerer
        log.exception("deadline alert for %s_%s could not be sent", pipeline, kind)
