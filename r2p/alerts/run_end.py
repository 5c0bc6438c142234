"""The ``notify`` task that ends every r2p DAG run (trigger rule ``all_done``).

From Airflow's own record of the run (the task states in the metadata database): when every
other task succeeded or was skipped, the DAG's open alerts are resolved ("resolved" to each
alert's route) and the run's summaries go out (rows quarantined within the allowed fraction
to data engineering; a training run that promoted nothing to the team channel). When a task
failed, it re-raises, so the run stays failed (a trailing ``all_done`` task would otherwise
turn a failed run green) without a second alert: the failed task alerted already, unless its
process died without running its failure callback (SIGKILL, out of memory): then on-call is
paged here, once (:mod:`r2p.alerts.killed`). Every task is upstream of this one, so none is
still retrying when it runs.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from r2p.alerts.messages import instance_label
from r2p.alerts.outcomes import CHALLENGER_LOST, ROW_DEFECTS

log = logging.getLogger(__name__)
FAILED = ("failed", "upstream_failed")


class RunFailed(AirflowFailException):
    """The run failed upstream; its failing task sent the alert."""


def run_states(context: Any) -> dict[str, str]:
    """{task_id: state} of this run's other tasks, from Airflow's metadata database."""
    ti = context["ti"]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id])
    return {t: s for t, s in (states.get(ti.run_id) or {}).items() if t != ti.task_id}


def finish_run(pipeline: str, kind: str, context: Any) -> dict[str, Any]:
    """Resolve and summarise a succeeded run; re-raise a failed one (see the module doc)."""
    from r2p.config import load_pipeline
    from r2p.runner import RunInfo, manifest

    ti = context["ti"]
    states = run_states(context)
    failed = sorted(t for t, s in states.items() if s in FAILED)
    if failed:
        _page_unreported(pipeline, context, states)
        failed = [instance_label(pipeline, t) for t in failed]
        raise RunFailed(
            f"{ti.dag_id} run {ti.run_id} failed at {', '.join(failed)}; "
            f"the failing task alerted its route{_others(pipeline, ti.run_id, kind)}"
        )
    cfg = load_pipeline(pipeline)
    resolved = resolve_open(cfg, ti.dag_id, ti.run_id)
    stages = manifest(RunInfo(pipeline, ti.run_id)).get("stages", {})
    sent = []
    if kind == "data" and (msg := row_defects_message(cfg, stages)) is not None:
        sent.append(_send(ROW_DEFECTS.conn_id(cfg.alerts), msg))
    if kind == "training" and (msg := training_message(cfg, stages, ti.run_id)) is not None:
        sent.append(_send(CHALLENGER_LOST.conn_id(cfg.alerts), msg))
    return {"states": states, "resolved": resolved, "summaries": sent}


def _others(pipeline: str, run_id: str, kind: str) -> str:
    """When a candidate failed but evaluation still reached a verdict on the others."""
    from r2p.runner import RunInfo, manifest

    if kind != "training":
        return ""
    ev = (manifest(RunInfo(pipeline, run_id)).get("stages", {}).get("evaluate") or {}).get(
        "outputs"
    )
    if not isinstance(ev, dict) or not ev.get("verdict"):
        return ""
    return f"; the other candidates: {ev['verdict']} {ev.get('candidate_model') or ''}".rstrip()


def _page_unreported(pipeline: str, context: Any, states: dict[str, str]) -> None:
    from r2p.alerts.killed import alert_unreported
    from r2p.config import load_pipeline

    try:
        sent = alert_unreported(load_pipeline(pipeline), context, states)
    except Exception:  # a notification that fails never changes the run's outcome
        log.exception("killed-task check of %s failed", pipeline)
        return
    if sent:
        log.warning("tasks that died without reporting: %s", sent)


def _send(conn_id: str, message: Any) -> dict[str, Any]:
    from r2p.alerts.send import deliver

    return {"conn_id": conn_id, "body": message.body, "delivered": deliver(conn_id, message)}


def resolve_open(cfg: Any, dag_id: str, run_id: str) -> list[str]:
    """Send "resolved" for every open alert of ``dag_id`` (once each); their keys."""
    from r2p_jandi import JandiMessage

    from r2p.alerts import dedup
    from r2p.alerts.send import deliver

    done = []
    for alert in dedup.open_alerts(dag_id):

        def send(a: dict[str, Any]) -> bool:
            message = JandiMessage(
                f"[{cfg.pipeline}] resolved: {a['dag_id']}.{a['task_id']} "
                f"({a['error_type']} at {a['where']})",
                "resolved",
                [
                    ("Since", f"first failed {a['first_seen'][:19]} in run {a['run_id']}"),
                    ("Repeats", f"{dedup.repeats(dag_id, a['key'])} more failures after the alert"),
                    ("Resolved by", f"run {run_id} of {dag_id} succeeded"),
                ],
            )
            return deliver(a["conn_id"], message)  # where the alert went

        if dedup.resolve(dag_id, alert, send):
            done.append(alert["key"])
    return done


def row_defects_message(cfg: Any, stages: dict[str, Any]) -> Any | None:
    """Rows quarantined within the allowed fraction, per source (None when there were none)."""
    from r2p_jandi import JandiMessage

    rows = []
    for name, rec in sorted(stages.items()):
        out = rec.get("outputs") if isinstance(rec.get("outputs"), dict) else {}
        if name.startswith("ingest_") and out.get("rows_quarantined"):
            rows.append(
                (
                    f"{out['source']} ds={out['ds']}",
                    f"{out['rows_quarantined']} of {out['rows_landed']} rows quarantined "
                    f"({out['reasons']}), allowed up to {cfg.landing.max_bad_row_fraction:.2%}; "
                    f"quarantine {out['quarantine_uri']}",
                )
            )
    if not rows:
        return None
    return JandiMessage(
        f"[{cfg.pipeline}] rows quarantined within the allowed fraction ({len(rows)} source(s))",
        "info",
        [*rows, ("Runbook", f"{cfg.alerts.runbook_url}#{ROW_DEFECTS.runbook}")],
    )


def training_message(cfg: Any, stages: dict[str, Any], run_id: str) -> Any | None:
    """The team's summary of a training run that changed nothing (a promotion announces
    itself): the deciding check and its figures ("rejected: baseline_guard — log_loss ...
    vs baseline ..."), the guards, metrics with deltas, the champion (or why there is none),
    the report."""
    from r2p_jandi import JandiMessage

    from r2p import storage
    from r2p.evaluation.gates import told

    ev = (stages.get("evaluate") or {}).get("outputs")
    pr = (stages.get("promote") or {}).get("outputs") or {}
    if not isinstance(ev, dict) or pr.get("promoted"):
        return None
    decision = storage.read_json(storage.path(ev["decision_uri"]))
    version = (decision.get("champion") or {}).get("registry_version")
    return JandiMessage(
        f"[{cfg.pipeline}] champion kept: {ev['verdict']} ({decision['candidate']['model']}, "
        f"data to {decision['candidate']['data_end']})",
        "info" if ev["verdict"] != "not_evaluated" else "warning",
        [
            ("Why", told(ev["verdict"], ev["reason"], version)),
            ("Detail", ev["reason"]),
            ("Guards", guard_lines(decision)),
            ("Metrics", metrics_lines(decision)),
            ("Champion", _version_line(decision)),
            ("Report", ev["report_uri"]),
            ("Runbook", f"{cfg.alerts.runbook_url}#{CHALLENGER_LOST.runbook}"),
        ],
    )


def _version_line(decision: dict[str, Any]) -> str:
    from r2p.evaluation.gates import NO_CHAMPION

    champion = decision.get("champion")
    if not champion:
        policy = [c for c in decision.get("checks", []) if c["name"] == "first_run_policy"]
        return policy[0]["detail"] if policy and not policy[0]["passed"] else NO_CHAMPION
    return f"version {champion['registry_version']} stays (data to {champion['data_end']})"


def guard_lines(decision: dict[str, Any]) -> str:
    """``metric candidate vs baseline value, improvement [interval] held|FAILED`` per guard
    metric, against the baseline and the champion."""
    lines = [
        f"{r['metric']} {_n(r['candidate'])} vs {r['against']} {_n(r['other'])}: "
        f"{_n(r['improvement'], '+')} [{_n(r['low'], '+')}, {_n(r['high'], '+')}] "
        f"{'held' if r['passed'] else 'FAILED'}"
        for rows in (decision.get("guards") or {}).values()
        for r in rows
    ]
    return "\n".join(lines) or "not evaluated"


def _n(x: Any, sign: str = "") -> str:
    return f"{x:{sign}.4f}" if isinstance(x, int | float) and x == x else "-"


def metrics_lines(decision: dict[str, Any]) -> str:
    """``metric: candidate (delta vs champion [interval])`` per metric."""
    cand = decision.get("metrics", {}).get("candidate", {})
    deltas = decision.get("deltas", {}).get("vs_champion", {})
    lines = []
    for m, v in sorted(cand.items()):
        d = deltas.get(m)
        extra = f" ({d['delta']:+.4f} vs champion [{d['low']:+.4f}, {d['high']:+.4f}])" if d else ""
        lines.append(f"{m} {v:.4f}{extra}")
    return "\n".join(lines) or "not evaluated"
