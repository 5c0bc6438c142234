"""A hook that posts messages to a Jandi incoming webhook, with timeouts and bounded retries.

The webhook URL comes from an Airflow Connection (generic ``http`` type), in one of these
shapes (checked in this order):

* ``extra={"webhook_url": "https://wh.jandi.com/connect-api/webhook/<team>/<token>"}``;
* ``host`` holding the whole URL, scheme included
  (``AIRFLOW_CONN_JANDI_TEAM='{"conn_type": "http", "host": "https://wh.jandi.com/..."}'``);
* the URI form ``AIRFLOW_CONN_JANDI_TEAM='https://wh.jandi.com/connect-api/webhook/1/tok'``,
  which Airflow stores as ``conn_type`` https, ``host`` and the path in ``schema``;
* the HttpHook shape: ``schema`` ``https`` (or ``http``), ``host``, optional ``port``, and the
  path in ``extra={"endpoint": "/connect-api/webhook/..."}``.

When the connection does not exist, the message goes to the outbox (:mod:`r2p_jandi.outbox`)
instead. The URL is a secret (it is the credential): it is never logged, returned, stored on
the hook or put into an exception; see :mod:`r2p_jandi.redact` for ``urllib3``'s own logs.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import time
from contextlib import suppress
from typing import Any, NamedTuple

import requests
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from r2p_jandi.errors import JandiError
from r2p_jandi.message import JandiMessage
from r2p_jandi.outbox import append_outbox
from r2p_jandi.redact import redact, redacting

log = logging.getLogger("r2p_jandi")

HEADERS = {
    "Accept": "application/vnd.tosslab.jandi-v2+json",
    "Content-Type": "application/json",
}
#: Retried like a 5xx: no connection, a dropped one (also mid-response), or a timeout.
NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
MAX_ERROR_BODY = 200  # characters of a rejection's response body kept in the error


class _Outcome(NamedTuple):
    """One POST attempt: the HTTP status (None: no response), what went wrong (None: it was
    delivered), whether trying again may help, and the server's Retry-After in seconds."""

    status: int | None
    error: str | None
    retryable: bool = False
    retry_after: float | None = None


class JandiHook(BaseHook):
    """Posts :class:`JandiMessage` objects to the webhook of the connection ``conn_id``.

    Each attempt has a connect and a read timeout. Network errors (connection refused or
    dropped, timeouts), HTTP 429 and 5xx are retried up to ``retries`` more times, waiting
    ``backoff * 2**n`` seconds (or the 429's ``Retry-After``), never more than ``max_backoff``;
    any other status fails at once.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "jandi_default"
    hook_name = "Jandi incoming webhook"

    def __init__(
        self,
        conn_id: str,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        super().__init__()
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("connect_timeout and read_timeout must be positive")
        if retries < 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("retries, backoff and max_backoff must not be negative")
        self.conn_id = conn_id
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def send(self, message: JandiMessage) -> dict[str, Any]:
        """Deliver ``message``: ``{"status", "attempts", "conn_id"}`` once Jandi accepted it,
        or ``{"status": None, "outbox", "conn_id"}`` when the connection is not configured.

        Raises :class:`JandiError` (without the URL, cause or context) when it was not
        delivered after the allowed attempts, or the connection could not be read.
        """
        payload = message.payload()
        url = self._webhook_url()
        if url is None:
            path = append_outbox(self.conn_id, HEADERS, payload)
            log.info(
                "Jandi connection %r is not configured; message written to %s", self.conn_id, path
            )
            return {"status": None, "outbox": str(path), "conn_id": self.conn_id}
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        with redacting(url) as secrets:
            return self._post(url, data, secrets)

    def is_configured(self) -> bool:
        """Whether the connection exists and names a webhook (False: messages go to the
        outbox). Raises :class:`JandiError` when the connection cannot be read."""
        return self._webhook_url() is not None

    def backoff_for(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt."""
        wait = self.backoff * 2 ** (failures - 1) if retry_after is None else retry_after
        return max(0.0, min(wait, self.max_backoff))

    def _webhook_url(self) -> str | None:
        """The webhook URL, or None when the connection does not exist."""
        failure = None
        try:
            conn = self.get_connection(self.conn_id)
        except AirflowNotFoundException:
            return None
        except Exception as exc:  # a secrets backend error: its text is not ours to show
            failure = type(exc).__name__
        if failure is not None:  # raised outside the except block: no __context__
            raise JandiError(
                f"Jandi connection {self.conn_id!r} could not be read ({failure})",
                conn_id=self.conn_id,
            )
        url = _url_from_connection(conn)
        if url is None:
            raise JandiError(
                f"Jandi connection {self.conn_id!r} has neither a host nor extra webhook_url",
                conn_id=self.conn_id,
            )
        with suppress(Exception):  # in a task, Airflow also masks it in the task log
            from airflow.sdk.log import mask_secret

            mask_secret(url)
        return url

    def _post(self, url: str, data: bytes, secrets: list[str]) -> dict[str, Any]:
        attempts = self.retries + 1
        with requests.Session() as session:
            for attempt in range(1, attempts + 1):
                outcome = self._attempt(session, url, data, secrets)
                if outcome.error is None:
                    log.info("Jandi %r: delivered (HTTP %s)", self.conn_id, outcome.status)
                    return {"status": outcome.status, "attempts": attempt, "conn_id": self.conn_id}
                if not outcome.retryable or attempt == attempts:
                    break
                wait = self.backoff_for(attempt, outcome.retry_after)
                log.warning(
                    "Jandi %r: attempt %d of %d failed (%s); retrying in %.2f s",
                    self.conn_id,
                    attempt,
                    attempts,
                    outcome.error,
                    wait,
                )
                time.sleep(wait)
        log.warning("Jandi %r: not delivered after %d attempt(s)", self.conn_id, attempt)
        raise JandiError(
            f"Jandi webhook {self.conn_id!r}: not delivered after {attempt} attempt(s): "
            f"{outcome.error}",
            conn_id=self.conn_id,
            attempts=attempt,
            status=outcome.status,
        )

    def _attempt(
        self, session: requests.Session, url: str, data: bytes, secrets: list[str]
    ) -> _Outcome:
        """One POST. Exceptions become outcomes named by class only: ``requests`` puts the
        URL into their messages."""
        try:
            response = session.post(
                url,
                data=data,
                headers=HEADERS,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
            )
        except NETWORK_ERRORS as exc:
            return _Outcome(None, type(exc).__name__, retryable=True)
        except requests.RequestException as exc:  # an invalid URL or similar: no retry
            return _Outcome(None, type(exc).__name__)
        with response:
            status = response.status_code
            if 200 <= status < 300:
                return _Outcome(status, None)
            if status == 429 or status >= 500:
                retry_after = _retry_after(response.headers.get("Retry-After"))
                return _Outcome(status, f"HTTP {status}", True, retry_after)
            snippet = " ".join(redact(response.text, secrets).split())[:MAX_ERROR_BODY]
            return _Outcome(status, f"HTTP {status}" + (f" {snippet!r}" if snippet else ""))


def _url_from_connection(conn: Any) -> str | None:
    """The webhook URL held by an Airflow connection (shapes in the module docstring)."""
    extra = conn.extra_dejson
    if extra.get("webhook_url"):
        return str(extra["webhook_url"]).strip()
    host = (conn.host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    schema = (conn.schema or "").strip()
    if schema.lower() in ("http", "https"):  # HttpHook shape: schema is the scheme
        scheme, path = schema.lower(), str(extra.get("endpoint", ""))
    else:  # URI shape: Airflow put the URL's path into schema
        scheme = conn.conn_type if conn.conn_type in ("http", "https") else "https"
        path = schema
    netloc = f"{host}:{conn.port}" if conn.port else host
    return f"{scheme}://{netloc}/{path.lstrip('/')}"


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date), None if absent or
    unreadable."""
    if not value:
        return None
    with suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
