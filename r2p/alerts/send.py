"""Deliver a message to a route's connection; a notification that fails never fails the caller.

The connection id comes from an outcome's route (:mod:`r2p.alerts.outcomes`), or, for a
"resolved", from the open alert it resolves (the connection that alert went to).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def post(conn_id: str, message: Any) -> dict[str, Any]:
    """Post ``message`` through the Jandi hook of ``conn_id`` (the outbox when unconfigured);
    what the hook returned. Raises when it was not delivered: for a caller that records the
    delivery itself."""
    from r2p_jandi import JandiHook

    return JandiHook(conn_id).send(message)


def deliver(conn_id: str, message: Any) -> bool:
    """:func:`post`, but False (logged, never raised) when it could not be delivered."""
    try:
        post(conn_id, message)
    except Exception as exc:  # JandiError carries no secret; anything else is named by type
        log.warning("alert to %r not delivered: %s: %s", conn_id, type(exc).__name__, exc)
        return False
    return True
