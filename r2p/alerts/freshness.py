"""Freshness: a pipeline that silently stopped must not look "all good".

Checked hourly by the ``r2p_freshness`` DAG (outside the pipelines' own DAGs, which do not
run when a pipeline stopped): each source's newest committed offline partition against its
cadence plus ``alerts.freshness.slack_hours``, the newest label partition against a day plus
the slack, and the champion's training data against ``champion_max_age_days``. A stale
subject alerts its route once (renotified after ``alerts.renotify_hours``) and is resolved
when it is fresh again.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from r2p import storage
from r2p.alerts.outcomes import STALE, STALE_MODEL
from r2p.config.schema import PipelineConfig

SCOPE = "r2p_freshness"
_DS = re.compile(r"^ds=(\d{4}-\d{2}-\d{2})$")


def newest_partition(cfg: PipelineConfig, source: str) -> dt.date | None:
    """The newest committed offline partition of ``source``."""
    base = storage.root() / "offline" / cfg.dataset.name / source
    if not base.exists():
        return None
    days = [
        dt.date.fromisoformat(m.group(1))
        for p in base.iterdir()
        if (m := _DS.match(p.name)) and (p / storage.POINTER).exists()
    ]
    return max(days) if days else None


def _cadence_days(cadence: str) -> int:
    return 7 if cadence.startswith("weekly") else 1


def check(cfg: PipelineConfig, now: dt.datetime) -> list[dict[str, Any]]:
    """One finding per source, the labels and the champion: newest, age, limit, stale."""
    from r2p.promotion import record

    slack = dt.timedelta(hours=cfg.alerts.freshness.slack_hours)
    subjects = [(s.name, _cadence_days(s.cadence), "source") for s in cfg.dataset.sources]
    subjects.append((cfg.dataset.label.name, 1, "labels"))
    out = []
    for name, days, kind in subjects:
        newest = newest_partition(cfg, name)
        limit = dt.timedelta(days=days) + slack
        end = (
            dt.datetime.combine(newest + dt.timedelta(days=1), dt.time(), dt.UTC)
            if newest
            else None
        )
        out.append(_finding(f"{kind} {name}", newest, end, now, limit, STALE))
    champion = record.read(cfg.pipeline).champion
    if champion is not None:
        data_end = dt.date.fromisoformat(champion["data_end"])
        end = dt.datetime.combine(data_end, dt.time(), dt.UTC)
        limit = dt.timedelta(days=cfg.alerts.freshness.champion_max_age_days)
        finding = _finding("champion", data_end, end, now, limit, STALE_MODEL)
        finding["version"] = champion.get("registry_version")
        out.append(finding)
    return out


def _finding(subject: str, newest, end, now, limit, outcome) -> dict[str, Any]:
    age = (now - end) if end else None
    return {
        "subject": subject,
        "newest": newest.isoformat() if newest else None,
        "age_hours": round(age.total_seconds() / 3600, 1) if age is not None else None,
        "limit_hours": round(limit.total_seconds() / 3600, 1),
        "stale": age is None or age > limit,
        "outcome": outcome,
    }


def alert_stale(cfg: PipelineConfig, now: dt.datetime) -> dict[str, Any]:
    """Check, alert every stale subject once, resolve the fresh ones; what happened."""
    from r2p_jandi import JandiMessage

    from r2p.alerts import dedup
    from r2p.alerts.send import deliver

    findings = check(cfg, now)
    open_keys = {a["key"]: a for a in dedup.open_alerts(SCOPE)}
    report = {}
    for f in findings:
        outcome = f["outcome"]
        key = dedup.key_of(cfg.pipeline, f["subject"])
        conn_id = outcome.conn_id(cfg.alerts)
        if f["stale"]:
            what = (
                f"newest {f['newest']}, {f['age_hours']} h old (limit {f['limit_hours']} h)"
                if f["newest"]
                else "nothing committed yet"
            )
            message = JandiMessage(
                f"[{cfg.pipeline}] {outcome.title}: {f['subject']}: {what}",
                outcome.severity,
                [
                    ("Checked", f"at {now.isoformat()[:16]} by {SCOPE}"),
                    ("Do", "see whether the upstream delivered and the data DAG ran; "
                     f"`airflow dags list-runs {cfg.pipeline}_data`"),
                    ("Runbook", f"{cfg.alerts.runbook_url}#{outcome.runbook}"),
                ],
            )  # fmt: skip
            info = {"conn_id": conn_id, "dag_id": SCOPE, "task_id": f"check_{cfg.pipeline}",
                    "error_type": "stale", "where": f["subject"], "run_id": "-",
                    "outcome": outcome.name, "route": outcome.route}  # fmt: skip
            report[f["subject"]] = dedup.open_alert(
                SCOPE,
                key,
                info,
                dt.timedelta(hours=cfg.alerts.renotify_hours),
                lambda _r, _p, m=message, c=conn_id: deliver(c, m),
                now,
            )
        elif key in open_keys:

            def send(a: dict[str, Any], f=f) -> bool:
                body = f"[{cfg.pipeline}] resolved: {f['subject']} is fresh again ({f['newest']})"
                return deliver(a["conn_id"], JandiMessage(body, "resolved"))

            report[f["subject"]] = "resolved" if dedup.resolve(SCOPE, open_keys[key], send) else ""
        else:
            report[f["subject"]] = "fresh"
    return {"findings": [{**f, "outcome": f["outcome"].name} for f in findings], "alerts": report}
