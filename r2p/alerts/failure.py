"""The failure notifier every r2p task carries: classify the failure, route it, send it once.

Airflow calls ``on_failure_callback`` only after a task's last try (earlier tries call
``on_retry_callback``, which r2p leaves silent), so a retried transient error pages once.
A callback the scheduler sends for a lost heartbeat has no exception and may come while
retries remain (apache/airflow#65400): it stays silent then, and on the last try it pages as
"task killed or heartbeat lost" (:mod:`r2p.alerts.killed`, which also covers a SIGKILL that
runs no callback at all).
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` of the tasks of one pipeline's DAGs (never raises)."""

    def __init__(self, pipeline: str) -> None:
        super().__init__()
        self.pipeline = pipeline

    def notify(self, context: Any) -> None:
        from r2p.alerts import killed

        try:
            ti = context["ti"]
            if not killed.is_final_try(context):
                log.info("%s.%s try %s: retries remain; no alert", ti.dag_id, ti.task_id,
                         ti.try_number)  # fmt: skip
                return
            if isinstance(context.get("exception"), BaseException):
                status = alert_failure(self.pipeline, context)
            else:
                status = alert_lost(self.pipeline, context)
            key = killed.instance_key(ti)
            killed.mark_alerted(ti.dag_id, ti.run_id, key, ti.try_number, status)
        except Exception:  # a notification that fails never fails (or hides) the task
            log.exception("failure alert for %s could not be prepared", self.pipeline)


def alert_lost(pipeline: str, context: Any) -> str:
    """A failure callback without an exception: the scheduler found the task's heartbeat lost
    (or its executor reported it failed) on its last try; page as a killed task."""
    from r2p.alerts.killed import attempt, instance_key, send_killed
    from r2p.config import load_pipeline

    ti = context["ti"]
    found = dict(attempt(ti.dag_id, ti.run_id, instance_key(ti)) or {})
    found["try"] = ti.try_number
    found.setdefault("host", getattr(ti, "hostname", None) or "?")
    found["log_url"] = found.get("log_url") or getattr(ti, "log_url", None)
    found["reason"] = (
        "the scheduler reported the task failed without an error from the task itself "
        "(heartbeat lost: the process was killed, ran out of memory or its host died) "
        "on its last try"
    )
    cfg = load_pipeline(pipeline)
    return send_killed(cfg, ti.dag_id, ti.run_id, ti.task_id, found, context.get("logical_date"))


def facts(pipeline: str, context: Any, runbook: str) -> dict[str, Any]:
    """Everything a person needs from a failed task's context."""
    from r2p.alerts.frames import innermost_project_frame
    from r2p.alerts.messages import rerun_command, task_label
    from r2p.alerts.outcomes import classify

    exc = context.get("exception")
    outcome, decisive = classify(exc)
    err = decisive or exc
    ti = context["ti"]
    return {
        "pipeline": pipeline,
        "outcome": outcome,
        "dag_id": ti.dag_id,
        "task_id": task_label(pipeline, ti.task_id, getattr(ti, "map_index", None)),
        "run_id": ti.run_id,
        "try": ti.try_number,
        "host": getattr(ti, "hostname", None) or socket.gethostname(),
        "error_type": type(err).__name__ if err is not None else "unknown",
        "error": str(err)[:1500] if err is not None else "no exception in the context",
        "exception": err,
        "frame": innermost_project_frame(exc),
        "log_url": getattr(ti, "log_url", None),
        "rerun": rerun_command(ti.dag_id, ti.task_id, context.get("logical_date")),
        "runbook": f"{runbook}#{outcome.runbook}",
    }


def _details(err: Any) -> str | None:
    from r2p.alerts.messages import batch_details
    from r2p.errors import BatchRejected, ValidationFailed

    if isinstance(err, BatchRejected):
        return batch_details(err.record)
    if isinstance(err, ValidationFailed):
        return "\n".join(
            f"{f.get('source')}: {f.get('expectation')}"
            f"({(f.get('kwargs') or {}).get('column', '')}) observed {f.get('observed')}"
            for f in err.failures[:10]
        )
    return None


def alert_failure(pipeline: str, context: Any) -> str:
    """Route, deduplicate and send the alert of a failed task; returns what happened."""
    from r2p_jandi import JandiMessage

    from r2p.alerts import dedup
    from r2p.alerts.messages import failure_sections
    from r2p.alerts.run_end import RunFailed
    from r2p.alerts.send import deliver
    from r2p.config import load_pipeline

    if isinstance(context.get("exception"), RunFailed):
        return "not_alerted"  # the run-end task re-raises a failure its task already alerted
    cfg = load_pipeline(pipeline)
    f = facts(pipeline, context, cfg.alerts.runbook_url)
    f["details"] = _details(f["exception"])
    outcome = f["outcome"]
    where = f"{f['frame']['file']}:{f['frame']['line']}" if f["frame"] else "-"
    key = dedup.key_of(f["dag_id"], f["task_id"], f["error_type"], where)
    conn_id = outcome.conn_id(cfg.alerts)

    def send(repeat: int, previous: dict | None) -> bool:
        again = ""
        if repeat:
            since = previous["first_seen"][:16] if previous else "?"
            again = f" (still failing since {since}; {dedup.repeats(f['dag_id'], key)} repeats)"
        body = f"[{pipeline}] {outcome.title}: {f['dag_id']}.{f['task_id']} failed{again}"
        message = JandiMessage(body, outcome.severity, failure_sections(f))
        return deliver(conn_id, message)

    try:
        status = _open(dedup, f, key, conn_id, outcome, cfg, send)
    except Exception as exc:  # the dedup state is unreachable: a duplicate beats silence
        log.warning("alert state unavailable (%s): sending without deduplication", exc)
        status = "sent_without_dedup" if send(0, None) else "failed"
    log.info("%s.%s failure alert to %s: %s", f["dag_id"], f["task_id"], outcome.route, status)
    return status


def _open(dedup: Any, f: dict, key: str, conn_id: str, outcome: Any, cfg: Any, send: Any) -> str:
    return dedup.open_alert(
        f["dag_id"],
        key,
        {
            "outcome": outcome.name,
            "route": outcome.route,
            "conn_id": conn_id,
            "dag_id": f["dag_id"],
            "task_id": f["task_id"],
            "error_type": f["error_type"],
            "where": f"{f['frame']['file']}:{f['frame']['line']}" if f["frame"] else "-",
            "run_id": f["run_id"],
        },
        dt.timedelta(hours=cfg.alerts.renotify_hours),
        send,
    )
