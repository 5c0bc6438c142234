"""Tell the team channel that the champion changed (promoted, rolled back, forced)."""

from __future__ import annotations

from typing import Any

from r2p.config.schema import PipelineConfig

WORDS = {
    "promote": "promoted",
    "rollback": "rolled back",
    "force": "forced",
    "reconcile": "re-published",
}


def message(cfg: PipelineConfig, committed: dict[str, Any]) -> Any:
    """The Jandi message for a committed promotion record entry."""
    from r2p_jandi import JandiMessage

    champion, previous = committed["champion"], committed.get("previous_champion") or {}
    word = WORDS.get(committed["action"], committed["action"])
    return JandiMessage(
        body=f"[{cfg.pipeline}] champion {word}: version {champion['registry_version']} "
        f"({champion['model']}, data to {champion['data_end']})",
        severity="info" if committed["action"] == "promote" else "warning",
        sections=[
            ("Why", f"{committed['reason']} (by {committed['who']}, {committed['at']})"),
            (
                "Before",
                f"version {previous.get('registry_version', '-')} is now previous_champion"
                if previous
                else "no champion before this one",
            ),
            (
                "Record",
                f"promotion record entry {committed['seq']}; decision "
                f"{committed.get('decision_uri') or '-'}",
            ),
            ("Roll back", f"r2p promotion rollback {cfg.pipeline} --reason '...'"),
        ],
    )


def announce(cfg: PipelineConfig, committed: dict[str, Any]) -> dict[str, Any]:
    """Send it to the team route (the outbox when that connection is not configured)."""
    from r2p_jandi import JandiHook

    return JandiHook(cfg.alerts.team).send(message(cfg, committed))
