"""Tell the champion's change (promoted, rolled back, forced) to the route of the PROMOTED
outcome (the team channel)."""

from __future__ import annotations

from typing import Any

from r2p.alerts.outcomes import PROMOTED
from r2p.config.schema import PipelineConfig

WORDS = {
    "promote": "promoted",
    "rollback": "rolled back",
    "force": "forced",
    "reconcile": "re-published",
}


def message(cfg: PipelineConfig, committed: dict[str, Any]) -> Any:
    """The Jandi message for a committed promotion record entry (with the evaluation's
    metrics, deltas and report when a decision drove it)."""
    from r2p_jandi import JandiMessage

    from r2p import storage
    from r2p.alerts.run_end import metrics_lines

    champion, previous = committed["champion"], committed.get("previous_champion") or {}
    word = WORDS.get(committed["action"], committed["action"])
    sections = [
        ("Why", f"{committed['reason']} (by {committed['who']}, {committed['at'][:19]})"),
        (
            "Before",
            f"version {previous.get('registry_version', '-')} is now previous_champion"
            if previous
            else "no champion before this one",
        ),
    ]
    uri = committed.get("decision_uri")
    if uri and committed["action"] == "promote":
        decision = storage.read_json(storage.path(uri))
        sections.append(("Metrics", metrics_lines(decision)))
        sections.append(("Report", uri.rsplit("/", 1)[0] + "/report.html"))
    sections += [
        ("Record", f"promotion record entry {committed['seq']}"),
        ("Roll back", f"r2p promotion rollback {cfg.pipeline} --reason '...'"),
        ("Runbook", f"{cfg.alerts.runbook_url}#{PROMOTED.runbook}"),
    ]
    return JandiMessage(
        body=f"[{cfg.pipeline}] champion {word}: version {champion['registry_version']} "
        f"({champion['model']}, data to {champion['data_end']})",
        severity="info" if committed["action"] == "promote" else "warning",
        sections=sections,
    )


def announce(cfg: PipelineConfig, committed: dict[str, Any]) -> dict[str, Any]:
    """Send it to the PROMOTED outcome's route (the outbox when that connection is not
    configured); what the hook returned. Raises when it was not delivered (the caller records
    a delivered announcement)."""
    from r2p.alerts.send import post

    return post(PROMOTED.conn_id(cfg.alerts), message(cfg, committed))
