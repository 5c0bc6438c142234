"""JandiHook against a real local stand-in for Jandi: the exact wire format, connection shapes,
retries with backoff, timeouts, and the webhook URL never showing in errors, logs or output."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from r2p_jandi import JandiError, JandiHook, JandiMessage
from r2p_jandi.message import MAX_BODY, MAX_DESCRIPTION, TRUNCATION_MARKER

from tests.plugins.jandi_server import ACCEPT, CONTENT_TYPE, new_token
from tests.plugins.leaks import assert_no_leak

FAST = {"connect_timeout": 0.5, "read_timeout": 2.0, "backoff": 0.01, "max_backoff": 0.05}
MESSAGE = JandiMessage("churn: training failed", "error", [("Task", "train"), ("Try", "2")])


def make_hook(conn_id: str, **overrides: float) -> JandiHook:
    """A hook with test-sized timeouts and backoffs (``overrides`` win)."""
    return JandiHook(conn_id, **{**FAST, **overrides})  # type: ignore[arg-type]


def failing_send(hook: JandiHook, message: JandiMessage = MESSAGE) -> JandiError:
    """Send, expecting a JandiError, and return it."""
    with pytest.raises(JandiError) as info:
        hook.send(message)
    return info.value


@pytest.mark.parametrize(
    ("severity", "color"),
    [
        ("info", "#2D9CDB"),
        ("warning", "#F2994A"),
        ("error", "#EB5757"),
        ("critical", "#9B1B30"),
        ("resolved", "#27AE60"),
    ],
)
def test_posts_the_exact_wire_format(jandi_server, webhook, logs, capsys, severity, color):
    message = JandiMessage(
        f"배포 완료 ✅ ({severity})",
        severity,
        [("Run", "scheduled__2026-11-24"), ("Model", "mlp v3")],
        image_url="https://example.com/auc.png",
    )
    result = make_hook(webhook.conn_id).send(message)

    assert result == {"status": 200, "attempts": 1, "conn_id": "jandi_test"}
    [got] = jandi_server.requests
    assert (got.method, got.path) == ("POST", f"/webhook/{webhook.token}")
    assert got.headers["Accept"] == ACCEPT
    assert got.headers["Content-Type"] == CONTENT_TYPE
    assert got.json == {
        "body": f"배포 완료 ✅ ({severity})",
        "connectColor": color,
        "connectInfo": [
            {
                "title": "Run",
                "description": "scheduled__2026-11-24",
                "imageUrl": "https://example.com/auc.png",
            },
            {"title": "Model", "description": "mlp v3"},
        ],
    }
    # urllib3 did log the request line (so the check below is not vacuous), path redacted.
    request_lines = [r.getMessage() for r in logs.records if r.name == "urllib3.connectionpool"]
    assert any('"POST *** HTTP/1.1" 200' in line for line in request_lines), request_lines
    assert webhook.token not in repr(result) + repr(vars(make_hook(webhook.conn_id)))
    assert_no_leak(webhook.secrets, None, logs, capsys)


CONNECTION_SHAPES = {
    "host-holds-url": lambda port, path: {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{port}{path}",
    },
    "extra-webhook_url": lambda port, path: {
        "conn_type": "http",
        "extra": {"webhook_url": f"http://127.0.0.1:{port}{path}"},
    },
    "uri": lambda port, path: f"http://127.0.0.1:{port}{path}",
    "httphook-style": lambda port, path: {
        "conn_type": "http",
        "schema": "http",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"endpoint": path},
    },
}


@pytest.mark.parametrize("shape", list(CONNECTION_SHAPES))
def test_reads_the_url_from_every_connection_shape(jandi_server, monkeypatch, shape):
    path = f"/webhook/{new_token()}"
    conn = CONNECTION_SHAPES[shape](jandi_server.port, path)
    monkeypatch.setenv(
        "AIRFLOW_CONN_JANDI_SHAPE", conn if isinstance(conn, str) else json.dumps(conn)
    )

    assert make_hook("jandi_shape").send(MESSAGE)["status"] == 200
    assert [r.path for r in jandi_server.requests] == [path]


def test_a_connection_without_host_or_webhook_url_fails(jandi_server, connect):
    connect("jandi_empty", "unused", host=None)
    error = failing_send(make_hook("jandi_empty"))
    assert "'jandi_empty' has neither a host nor extra webhook_url" in str(error)
    assert jandi_server.requests == []


def test_a_connection_lookup_error_hides_its_text(monkeypatch, logs, capsys):
    url = f"https://wh.jandi.com/connect-api/webhook/1/{new_token()}"

    def broken_backend(conn_id):
        raise RuntimeError(f"secrets backend could not parse {url}")

    monkeypatch.setattr(JandiHook, "get_connection", staticmethod(broken_backend))
    error = failing_send(make_hook("jandi_vault"))

    assert str(error) == "Jandi connection 'jandi_vault' could not be read (RuntimeError)"
    assert error.__cause__ is None and error.__context__ is None
    assert_no_leak([url, url.rsplit("/", 1)[-1]], error, logs, capsys)


def test_long_text_arrives_truncated(jandi_server, webhook):
    message = JandiMessage("b" * 10_000, "warning", [("Traceback", "d" * 5_000)])
    make_hook(webhook.conn_id).send(message)

    [got] = jandi_server.requests
    body, description = got.json["body"], got.json["connectInfo"][0]["description"]
    assert len(body) == MAX_BODY and body.endswith(TRUNCATION_MARKER)
    assert len(description) == MAX_DESCRIPTION and description.endswith(TRUNCATION_MARKER)


def test_retries_5xx_then_succeeds(jandi_server, webhook, logs, capsys):
    jandi_server.script(["500", "503", "ok"])
    result = make_hook(webhook.conn_id, retries=3).send(MESSAGE)

    assert result == {"status": 200, "attempts": 3, "conn_id": "jandi_test"}
    assert len(jandi_server.requests) == 3
    assert all(r.json == MESSAGE.payload() for r in jandi_server.requests)
    warnings = [r.getMessage() for r in logs.records if r.name == "r2p_jandi"]
    assert any("'jandi_test': attempt 1 of 4 failed (HTTP 500)" in w for w in warnings), warnings
    assert_no_leak(webhook.secrets, None, logs, capsys)


def test_a_dropped_connection_is_retried(jandi_server, webhook):
    jandi_server.script(["close", "ok"])
    assert make_hook(webhook.conn_id, retries=1).send(MESSAGE)["attempts"] == 2
    assert len(jandi_server.requests) == 2


def test_429_waits_for_retry_after(jandi_server, webhook):
    jandi_server.script(["429:0.4", "ok"])
    result = make_hook(webhook.conn_id, retries=1, backoff=0.01, max_backoff=1.0).send(MESSAGE)

    assert result["attempts"] == 2
    first, second = jandi_server.requests
    assert 0.4 - 0.01 <= second.at - first.at < 2 * 0.4


def test_429_retry_after_is_capped_by_max_backoff(jandi_server, webhook):
    jandi_server.script(["429:30", "ok"])
    result = make_hook(webhook.conn_id, retries=1, max_backoff=0.2).send(MESSAGE)

    assert result["attempts"] == 2
    first, second = jandi_server.requests
    assert 0.2 - 0.01 <= second.at - first.at < 2 * 0.2 + 0.1  # not the 30 s asked for


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_other_4xx_fail_at_once(jandi_server, webhook, logs, capsys, status):
    jandi_server.script([str(status)])
    error = failing_send(make_hook(webhook.conn_id, retries=3))

    assert len(jandi_server.requests) == 1
    assert (error.attempts, error.status, error.conn_id) == (1, status, "jandi_test")
    assert f"after 1 attempt(s): HTTP {status}" in str(error)
    assert "no webhook at ***" in str(error)  # the server echoed the path: redacted
    assert_no_leak(webhook.secrets, error, logs, capsys)


def test_gives_up_after_retries_plus_one_attempts(jandi_server, webhook, logs, capsys):
    jandi_server.script(["500"] * 10)
    error = failing_send(make_hook(webhook.conn_id, retries=2))

    assert len(jandi_server.requests) == 3
    assert (error.attempts, error.status) == (3, 500)
    assert str(error) == "Jandi webhook 'jandi_test': not delivered after 3 attempt(s): HTTP 500"
    assert error.__cause__ is None and error.__context__ is None
    assert_no_leak(webhook.secrets, error, logs, capsys)


def test_backoff_is_exponential_capped_and_bounded(jandi_server, webhook, logs, capsys):
    jandi_server.script(["500", "429", "500", "502", "500"])
    hook = make_hook(webhook.conn_id, retries=4, backoff=0.05, max_backoff=0.15)
    waits = [0.05, 0.1, 0.15, 0.15]  # 0.05 * 2**n, capped at 0.15
    assert [hook.backoff_for(n) for n in range(1, 5)] == waits

    start = time.monotonic()
    error = failing_send(hook)
    elapsed = time.monotonic() - start

    arrivals = [r.at for r in jandi_server.requests]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == 5 and error.attempts == 5
    assert all(gap >= wait - 0.005 for gap, wait in zip(gaps, waits, strict=True)), gaps
    assert sum(waits) - 0.01 <= elapsed < 2 * sum(waits) + 0.25
    assert_no_leak(webhook.secrets, error, logs, capsys)


def test_read_timeouts_bound_the_time_to_fail(jandi_server, webhook, logs, capsys):
    jandi_server.script(["hang:5", "hang:5"])
    hook = make_hook(webhook.conn_id, read_timeout=0.5, retries=1, backoff=0.05)
    bound = 2 * 0.5 + 0.05  # two read timeouts and one wait (loopback connects at once)

    start = time.monotonic()
    error = failing_send(hook)
    elapsed = time.monotonic() - start

    assert 2 * 0.5 <= elapsed < 2 * bound
    assert len(jandi_server.requests) == 2
    assert "after 2 attempt(s): ReadTimeout" in str(error)
    assert_no_leak(webhook.secrets, error, logs, capsys)


def test_connection_refused_fails_with_jandi_error(dead_webhook, logs, capsys):
    start = time.monotonic()
    error = failing_send(make_hook(dead_webhook.conn_id, retries=2))

    assert time.monotonic() - start < 2.0
    assert error.attempts == 3 and error.status is None
    assert "after 3 attempt(s): ConnectionError" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    assert_no_leak(dead_webhook.secrets, error, logs, capsys)


def test_connection_dropped_every_time_fails(jandi_server, webhook, logs, capsys):
    jandi_server.script(["close", "close"])
    error = failing_send(make_hook(webhook.conn_id, retries=1))

    assert len(jandi_server.requests) == 2
    assert "after 2 attempt(s): ConnectionError" in str(error)
    assert_no_leak(webhook.secrets, error, logs, capsys)


def test_an_invalid_url_fails_without_showing_it(connect, logs, capsys):
    bad = connect("jandi_bad", f"htp://127.0.0.1/webhook/{new_token()}")  # unknown scheme
    error = failing_send(make_hook(bad.conn_id, retries=3))

    assert error.attempts == 1  # not a network error: not retried
    assert "InvalidSchema" in str(error)
    assert_no_leak(bad.secrets, error, logs, capsys)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"read_timeout": 0}, "must be positive"),
        ({"connect_timeout": -1}, "must be positive"),
        ({"retries": -1}, "must not be negative"),
        ({"backoff": -0.5}, "must not be negative"),
    ],
)
def test_rejects_invalid_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        JandiHook("jandi_test", **kwargs)


def test_jandi_server_rejects_what_jandi_would(jandi_server):
    import requests

    url = jandi_server.url(new_token())
    payload = MESSAGE.payload()
    no_accept = requests.post(url, json=payload, timeout=5)
    bad_color = requests.post(
        url,
        json={**payload, "connectColor": "red"},
        headers={"Accept": ACCEPT},
        timeout=5,
    )
    extra_key = requests.post(url, json={**payload, "x": 1}, headers={"Accept": ACCEPT}, timeout=5)

    assert [r.status_code for r in (no_accept, bad_color, extra_key)] == [400, 400, 400]
    assert "Accept must be" in no_accept.json()["msg"]
    assert "connectColor" in bad_color.json()["msg"]
    assert "keys must be exactly" in extra_key.json()["msg"]
