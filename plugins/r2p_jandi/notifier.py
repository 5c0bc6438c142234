"""An Airflow notifier that sends a Jandi message; a failed notification never fails a task.

Usage in a DAG (``conn_id`` names an Airflow connection, see :mod:`r2p_jandi.hook`)::

    on_failure_callback=JandiNotifier(
        conn_id="jandi_on_call",
        body="{{ dag.dag_id }}.{{ ti.task_id }} failed",
        severity="error",
        sections=[("Run", "{{ run_id }}")],
    )

or, for a message built from the whole context, ``JandiNotifier(conn_id=...,
message_builder=build)`` with ``build(context) -> JandiMessage``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from airflow.sdk import BaseNotifier

from r2p_jandi.errors import JandiError
from r2p_jandi.hook import JandiHook
from r2p_jandi.message import JandiMessage

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger("r2p_jandi")

MessageBuilder = Callable[["Context"], JandiMessage]


class JandiNotifier(BaseNotifier):
    """Sends ``body``/``severity``/``sections``/``image_url`` (all Jinja-templated), or what
    ``message_builder(context)`` returns, through :class:`JandiHook`."""

    template_fields = ("body", "severity", "sections", "image_url")

    def __init__(
        self,
        *,
        conn_id: str,
        body: str = "",
        severity: str = "info",
        sections: Sequence[tuple[str, str]] = (),
        image_url: str | None = None,
        message_builder: MessageBuilder | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.body = body
        self.severity = severity
        self.sections = sections
        self.image_url = image_url
        self.message_builder = message_builder
        self.hook_kwargs = {
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "retries": retries,
            "backoff": backoff,
            "max_backoff": max_backoff,
        }

    @cached_property
    def hook(self) -> JandiHook:
        """The hook that delivers (or files to the outbox) this notifier's messages."""
        return JandiHook(self.conn_id, **self.hook_kwargs)

    def build_message(self, context: Context) -> JandiMessage:
        """The message for ``context``: the builder's, or one from the rendered fields."""
        if self.message_builder is not None:
            return self.message_builder(context)
        return JandiMessage(self.body, self.severity, self.sections, self.image_url)

    def notify(self, context: Context) -> None:
        """Build and send the message. Never raises: a failure is logged as a warning that
        names the connection id and the error, never the webhook URL."""
        try:
            message = self.build_message(context)
        except Exception as exc:  # the builder never sees the URL: its text is safe to log
            log.warning(
                "Jandi %r: message not built (%s: %s)", self.conn_id, type(exc).__name__, exc
            )
            return
        try:
            self.hook.send(message)
        except JandiError as exc:  # its text is built without the URL
            log.warning("Jandi notification failed: %s", exc)
        except Exception as exc:  # anything else may carry the URL: log its class only
            log.warning("Jandi %r: notification failed (%s)", self.conn_id, type(exc).__name__)

    async def async_notify(self, context: Context) -> None:
        """:meth:`notify` in a worker thread, for the triggerer (deadline alerts)."""
        await asyncio.to_thread(self.notify, context)
