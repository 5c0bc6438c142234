"""On-call hears when the model server cannot load a new champion (the old one keeps serving).

Sent once per (model, version, error type) through the dedup state under the storage root;
the model's pipeline config gives the route (its defaults when the model has no config).
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from typing import Any

log = logging.getLogger(__name__)
SCOPE = "r2p_serving"


def reload_failed(model: str, version: int | None, error: str, served: int | None) -> str:
    """Alert on-call that ``version`` of ``model`` could not be loaded; never raises."""
    try:
        from r2p_jandi import JandiMessage

        from r2p.alerts import dedup
        from r2p.alerts.send import deliver
        from r2p.config.schema import Alerts

        alerts = _alerts(model) or Alerts()
        message = JandiMessage(
            f"[{model}] Model server cannot load version {version}; version {served} keeps "
            "serving",
            "critical",
            [
                ("Host", socket.gethostname()),
                ("Error", error[:1500]),
                ("Do", f"r2p promotion status {model}; roll back or force a loadable version "
                 f"(r2p promotion rollback {model} --reason ...)"),
                ("Runbook", f"{alerts.runbook_url}#model-refused"),
            ],
        )  # fmt: skip
        key = dedup.key_of(model, version, error.split(":", 1)[0])
        info = {"conn_id": alerts.on_call, "dag_id": SCOPE, "task_id": model, "run_id": "-",
                "error_type": "reload_failed", "where": f"version {version}",
                "outcome": "model_refused", "route": "on_call"}  # fmt: skip
        return dedup.open_alert(
            SCOPE,
            key,
            info,
            dt.timedelta(hours=alerts.renotify_hours),
            lambda _r, _p: deliver(alerts.on_call, message),
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
