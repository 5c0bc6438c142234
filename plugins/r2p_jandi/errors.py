"""The one exception the Jandi hook raises: delivery failed, said without the webhook URL."""

from __future__ import annotations


class JandiError(Exception):
    """A Jandi message could not be delivered (or the connection could not be read).

    The text names the connection id, the attempt count and the error class, never the
    webhook URL or any part of it; it is raised with no ``__cause__`` or ``__context__``, since
    ``requests`` puts the full URL into its own exception messages.
    """

    def __init__(
        self,
        message: str,
        *,
        conn_id: str | None = None,
        attempts: int = 0,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.conn_id = conn_id
        self.attempts = attempts
        self.status = status
