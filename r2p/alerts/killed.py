"""A task that died without reporting (SIGKILL, out of memory, heartbeat lost) still pages once.

Airflow runs no ``on_failure_callback`` for a task whose process was SIGKILLed or OOM-killed
(apache/airflow#60858), so three small records under the storage root fill the gap:

- ``record_attempt`` (every task's ``on_execute_callback``) writes the try, host, pid and log
  URL of the attempt that starts, overwriting the previous try's;
- the failure notifier marks the try it handled (``mark_alerted``);
- the run's trailing ``notify`` task (trigger rule ``all_done`` over every task, so no task
  is still retrying) pages on-call for each failed task whose last try was never handled.

Both paths send with one dedup key per (DAG, task, "TaskKilled"), so a heartbeat-timeout
callback that did run and the run-end check never page twice; the DAG's next successful run
resolves it like any other alert.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from typing import Any

from r2p import storage
from r2p.alerts import dedup

log = logging.getLogger(__name__)
ERROR_TYPE = "TaskKilled"
ROOT = "_attempts"


def _base(dag_id: str, run_id: str) -> storage.ObjectStoragePath:
    return storage.root() / dedup.ROOT / ROOT / dag_id / dedup.key_of(run_id)


def instance_key(ti: Any) -> str:
    """A task instance's name in Airflow's run states: ``<task>`` or, mapped (one per
    candidate), ``<task>_<map index>``; attempt and alert records use the same key."""
    index = getattr(ti, "map_index", -1)
    return ti.task_id if index is None or index < 0 else f"{ti.task_id}_{index}"


def record_attempt(context: Any) -> None:
    """``on_execute_callback``: remember which try of the task runs where (never raises)."""
    try:
        ti = context["ti"]
        storage.write_json(
            _base(ti.dag_id, ti.run_id) / f"{instance_key(ti)}.json",
            {
                "try": ti.try_number,
                "host": getattr(ti, "hostname", None) or socket.gethostname(),
                "pid": os.getpid(),
                "log_url": getattr(ti, "log_url", None),
                "started_at": dt.datetime.now(dt.UTC).isoformat(),
            },
        )
    except Exception as exc:  # bookkeeping must never stop a task
        log.warning("attempt record not written: %s: %s", type(exc).__name__, exc)


def attempt(dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
    """The newest attempt record of a task in a run (None when it never started one)."""
    try:
        return storage.read_json(_base(dag_id, run_id) / f"{task_id}.json")
    except FileNotFoundError:
        return None


def mark_alerted(dag_id: str, run_id: str, task_id: str, try_number: int, status: str) -> None:
    """Record that the failure notifier handled this try (whatever it decided to send)."""
    try:
        storage.write_json(
            _base(dag_id, run_id) / f"{task_id}.alerted-{try_number}.json",
            {"status": status, "at": dt.datetime.now(dt.UTC).isoformat()},
        )
    except Exception as exc:
        log.warning("alerted mark not written: %s: %s", type(exc).__name__, exc)


def alerted(dag_id: str, run_id: str, task_id: str, try_number: int | None) -> bool:
    """Whether the failure notifier handled ``try_number`` of the task in this run."""
    if try_number is None:
        return False
    return (_base(dag_id, run_id) / f"{task_id}.alerted-{try_number}.json").exists()


def unreported(states: dict[str, str], handled: dict[str, bool]) -> list[str]:
    """The decision: tasks that failed (their final state: the caller runs after every task is
    done) whose last try no failure notifier handled. ``upstream_failed`` tasks never ran."""
    return sorted(t for t, s in states.items() if s == "failed" and not handled.get(t, False))


def is_final_try(context: Any) -> bool:
    """Whether a failure callback is about the task's last try.

    In the task's own process Airflow calls ``on_failure_callback`` only when it gives up (an
    exception is in the context). A callback sent by the scheduler (heartbeat timeout, run by
    the DAG processor, no exception) can come while retries remain (apache/airflow#65400):
    then it is final only when ``try_number > max_tries``.
    """
    if isinstance(context.get("exception"), BaseException):
        return True
    ti = context["ti"]
    max_tries = getattr(ti, "max_tries", None)
    tries = getattr(ti, "try_number", None)
    if max_tries is None or tries is None:
        return True
    return tries > max_tries


def send_killed(
    cfg: Any, dag_id: str, run_id: str, task_id: str, found: dict[str, Any], logical_date: Any
) -> str:
    """Page on-call once for a task that died without reporting; returns the dedup status."""
    from r2p_jandi import JandiMessage

    from r2p.alerts.messages import instance_label, rerun_command, split_instance
    from r2p.alerts.outcomes import TASK_KILLED
    from r2p.alerts.send import deliver

    outcome = TASK_KILLED
    conn_id = outcome.conn_id(cfg.alerts)
    tries = found.get("try", "?")
    rerun = rerun_command(dag_id, split_instance(task_id)[0], logical_date)
    task_id = instance_label(cfg.pipeline, task_id)
    message = JandiMessage(
        f"[{cfg.pipeline}] {outcome.title}: {dag_id}.{task_id} failed without reporting an "
        f"error (try {tries})",
        outcome.severity,
        [
            ("Run", f"{dag_id}.{task_id}  run {run_id}  try {tries}  host {found.get('host', '?')}"
             + (f"  pid {found['pid']}" if found.get("pid") else "")),
            ("What", found.get("reason") or "the task process ended without running its failure "
             "handler: killed (SIGKILL, out of memory) or its heartbeat was lost; Airflow "
             "marked it failed after its last try"),
            ("Log", found.get("log_url") or "-"),
            ("Rerun", rerun),
            ("Runbook", f"{cfg.alerts.runbook_url}#{outcome.runbook}"),
        ],
    )  # fmt: skip
    key = dedup.key_of(dag_id, task_id, ERROR_TYPE, "-")
    info = {"outcome": outcome.name, "route": outcome.route, "conn_id": conn_id,
            "dag_id": dag_id, "task_id": task_id, "error_type": ERROR_TYPE, "where": "-",
            "run_id": run_id}  # fmt: skip
    return dedup.send_once(
        dag_id,
        key,
        info,
        dt.timedelta(hours=cfg.alerts.renotify_hours),
        lambda: deliver(conn_id, message),
    )


def alert_unreported(cfg: Any, context: Any, states: dict[str, str]) -> dict[str, str]:
    """From the run-end task: page for each failed task no failure notifier handled."""
    ti = context["ti"]
    failed = [t for t, s in states.items() if s == "failed"]
    attempts = {t: attempt(ti.dag_id, ti.run_id, t) for t in failed}
    handled = {
        t: alerted(ti.dag_id, ti.run_id, t, (a or {}).get("try")) for t, a in attempts.items()
    }
    out = {}
    for task in unreported(states, handled):
        found = attempts[task] or {"reason": "the task never reported a start: it was lost "
                                   "in the executor or killed before it ran"}  # fmt: skip
        out[task] = send_killed(cfg, ti.dag_id, ti.run_id, task, found, context.get("logical_date"))
        mark_alerted(ti.dag_id, ti.run_id, task, found.get("try", 0), out[task])
    return out
