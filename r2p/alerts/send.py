"""Deliver a message to a route; a notification that fails never fails the caller."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def deliver(conn_id: str, message: Any) -> bool:
    """Post ``message`` through the Jandi hook of ``conn_id`` (the outbox when unconfigured);
    False (logged, never raised) when it could not be delivered."""
    from r2p_jandi import JandiHook

    try:
        JandiHook(conn_id).send(message)
    except Exception as exc:  # JandiError carries no secret; anything else is named by type
        log.warning("alert to %r not delivered: %s: %s", conn_id, type(exc).__name__, exc)
        return False
    return True
