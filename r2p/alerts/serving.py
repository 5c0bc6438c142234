"""The model server cannot load a version it was given.

The old version keeps serving: a model problem (MODEL_REFUSED), the ML owners' route, like
the other checks that refuse a model. When no version is serving (the first one it was
given does not load, ``/readyz`` stays 503), the server is down: NOT_SERVING, on-call.

Sent once per (model, version, error type) through the dedup state under the storage root;
the model's pipeline config gives the routes' connections (its defaults when the model has
no config).
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from typing import Any

from r2p.alerts.outcomes import MODEL_REFUSED, NOT_SERVING, Outcome

log = logging.getLogger(__name__)
SCOPE = "r2p_serving"


def outcome_of(served: int | None) -> Outcome:
    """A failed load while ``served`` keeps serving is the model's problem; with nothing
    serving, the server is down."""
    return MODEL_REFUSED if served is not None else NOT_SERVING


def reload_failed(model: str, version: int | None, error: str, served: int | None) -> str:
    """Alert the route of :func:`outcome_of` that ``version`` of ``model`` could not be
    loaded; the dedup status, never raises."""
    try:
        from r2p_jandi import JandiMessage

        from r2p.alerts import dedup
        from r2p.alerts.send import deliver
        from r2p.config.schema import Alerts

        alerts = _alerts(model) or Alerts()
        outcome = outcome_of(served)
        conn_id = outcome.conn_id(alerts)
        serving = f"version {served} keeps serving" if served is not None else "nothing serves"
        message = JandiMessage(
            f"[{model}] Model server cannot load version {version}; {serving}",
            outcome.severity,
            [
                ("Host", socket.gethostname()),
                ("Error", error[:1500]),
                ("Do", f"r2p promotion status {model}; roll back or force a loadable version "
                 f"(r2p promotion rollback {model} --reason ...)"),
                ("Runbook", f"{alerts.runbook_url}#{outcome.runbook}"),
            ],
        )  # fmt: skip
        key = dedup.key_of(model, version, error.split(":", 1)[0])
        info = {"conn_id": conn_id, "dag_id": SCOPE, "task_id": model, "run_id": "-",
                "error_type": "reload_failed", "where": f"version {version}",
                "outcome": outcome.name, "route": outcome.route}  # fmt: skip
        return dedup.open_alert(
            SCOPE,
            key,
            info,
            dt.timedelta(hours=alerts.renotify_hours),
            lambda _r, _p: deliver(conn_id, message),
        )
    except Exception:
        log.exception("reload-failure alert for %s could not be sent", model)
        return "failed"


def _alerts(model: str) -> Any:
    try:
        from r2p.config import load_pipeline

        return load_pipeline(model).alerts
    except Exception:  # a model without a pipeline config: default routes
        return None
