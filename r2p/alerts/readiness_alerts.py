"""On-call hears what ``r2p ready`` found wrong: once per problem, "resolved" when it passes.

Each problem is an outcome (IMPORT_ERROR for the DAG files, NOT_READY for the rest of the
stack) and goes to that outcome's route.

State: the dedup records under the storage root (what every host sees). When the storage
root is itself failing, a local file ``$R2P_HOME/alerts-local/r2p_readiness.json`` stands in
(one host runs the cron job), so a broken storage root pages once, not at every run.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from r2p.alerts import dedup
from r2p.alerts.outcomes import IMPORT_ERROR, NOT_READY, Outcome

SCOPE = "r2p_readiness"


class LocalState:
    """The subset of :mod:`r2p.alerts.dedup` used here, in one local JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        from r2p.home import home

        self.path = path or home() / "alerts-local" / f"{SCOPE}.json"

    def _load(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.path)

    def open_alert(
        self,
        scope: str,
        key: str,
        info: dict,
        renotify: dt.timedelta,
        send: Callable,
        now: dt.datetime,
    ) -> str:
        data = self._load()
        old = data.get(key)
        if old and now - dt.datetime.fromisoformat(old["last_sent"]) < renotify:
            return "suppressed"
        if not send(1 if old else 0, old):
            return "failed"
        first = old["first_seen"] if old else now.isoformat()
        data[key] = {**info, "key": key, "first_seen": first, "last_sent": now.isoformat()}
        self._save(data)
        return "renotified" if old else "sent"

    def open_alerts(self, scope: str) -> list[dict[str, Any]]:
        return list(self._load().values())

    def resolve(self, scope: str, alert: dict, send: Callable) -> bool:
        if not send(alert):
            return False
        data = self._load()
        data.pop(alert["key"], None)
        self._save(data)
        return True


# What on-call should do about each readiness item (the "Do" line of its alert).
HINTS = {
    "configs": "fix the YAML named in the error; `r2p config validate`",
    "database": "is PostgreSQL up and reachable from here? `airflow db check`; for the "
    "embedded default `airflow db migrate`",
    "scheduler": "restart the scheduler (`r2p stack up`, or its systemd unit); its log says "
    "why it stopped",
    "dag_imports": "fix the file at the line named; `airflow dags list-import-errors --local`",
    "feast_registry": "is the registry's database (or file) there and readable? "
    "`feast -c feature_repo feature-views list`",
    "mlflow": "is the tracking server (or its database) up? MLFLOW_TRACKING_URI",
    "storage": "is the storage root (R2P_STORAGE) writable, its credentials valid?",
    "jandi": "define the route's Airflow connection, or make $R2P_HOME/outbox writable",
}


def outcome_of(item: str) -> Outcome:
    """The outcome of a problem of readiness item ``item``."""
    return IMPORT_ERROR if item == "dag_imports" else NOT_READY


def _message(item: str, text: str, alerts: Any, now: dt.datetime) -> Any:
    from r2p_jandi import JandiMessage

    outcome = outcome_of(item)
    body = (
        f"[r2p] {outcome.title}: {text}"
        if outcome is IMPORT_ERROR
        else f"[r2p] {outcome.title}: {item}: {text}"
    )
    return JandiMessage(
        body[:1000],
        outcome.severity,
        [
            ("Item", item),
            ("Problem", text),
            ("Checked", f"{now:%Y-%m-%d %H:%M:%S} UTC on {socket.gethostname()} by r2p ready"),
            ("Do", HINTS.get(item, "-")),
            ("Runbook", f"{alerts.runbook_url}#{outcome.runbook}"),
        ],
    )


def alert_problems(results: list[Any], alerts: Any, now: dt.datetime) -> dict[str, str]:
    """Open (send once) every current problem, resolve the ones gone; ``{problem: status}``."""
    from r2p_jandi import JandiMessage

    from r2p.alerts.send import deliver

    by_item = {r.item: r for r in results}
    storage_ok = by_item.get("storage") is None or by_item["storage"].ok
    stores = [dedup, LocalState()] if storage_ok else [LocalState()]
    out: dict[str, str] = {}
    current: set[str] = set()
    for r in results:
        for pkey, _text in r.problems:
            current.add(dedup.key_of("readiness", r.item, pkey))
    for store in stores:  # resolve what passes again (in either state)
        try:
            open_alerts = store.open_alerts(SCOPE)
        except Exception:
            continue
        for a in open_alerts:
            res = by_item.get(a.get("task_id"))
            if res is None or not res.completed or a["key"] in current:
                continue
            message = JandiMessage(
                f"[r2p] resolved: {a['task_id']}: {a['where']}",
                "resolved",
                [("Checked", f"{now:%Y-%m-%d %H:%M:%S} UTC: {res.detail}")],
            )
            # "resolved" goes where the alert went
            sent = store.resolve(SCOPE, a, lambda al, m=message: deliver(al["conn_id"], m))
            out[f"{a['task_id']}: {a['where']}"] = "resolved" if sent else "resolve_failed"
    already = set()
    for store in stores:
        try:
            already |= {a["key"] for a in store.open_alerts(SCOPE)}
        except Exception:
            continue
    for r in results:
        for pkey, text in r.problems:
            key = dedup.key_of("readiness", r.item, pkey)
            message = _message(r.item, text, alerts, now)
            outcome = outcome_of(r.item)
            info = {
                "conn_id": outcome.conn_id(alerts),
                "dag_id": SCOPE,
                "task_id": r.item,
                "error_type": "not_ready",
                "where": text[:300],
                "run_id": "-",
                "outcome": outcome.name,
                "route": outcome.route,
            }
            out[f"{r.item}: {text}"] = _open(stores, key, info, alerts, message, now, already)
    return out


def _open(
    stores: list,
    key: str,
    info: dict,
    alerts: Any,
    message: Any,
    now: dt.datetime,
    already: set[str],
) -> str:
    from r2p.alerts.send import deliver

    renotify = dt.timedelta(hours=alerts.renotify_hours)
    conn_id = info["conn_id"]  # the route of the problem's outcome
    for store in stores:
        if store is not stores[0] and key in already:
            return "suppressed"  # open in the other state: do not page twice
        try:
            return store.open_alert(
                SCOPE, key, info, renotify, lambda _r, _p: deliver(conn_id, message), now
            )
        except Exception:
            continue  # the next state
    return "sent_without_dedup" if deliver(conn_id, message) else "failed"
