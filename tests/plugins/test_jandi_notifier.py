"""JandiNotifier: renders its templates, sends through the hook, and never raises."""

from __future__ import annotations

import asyncio
import logging

from r2p_jandi import JandiMessage, JandiNotifier, read_outbox

from tests.plugins.leaks import assert_no_leak

FAST = {"connect_timeout": 0.5, "read_timeout": 1.0, "backoff": 0.01, "max_backoff": 0.02}
CONTEXT = {"run_id": "scheduled__2026-11-24T00:00:00+00:00", "task_id": "train", "try": 2}


def test_notifier_renders_templates_and_posts(jandi_server, webhook):
    notifier = JandiNotifier(
        conn_id=webhook.conn_id,
        body="{{ task_id }} failed (try {{ try }})",
        severity="error",
        sections=[("Run", "{{ run_id }}")],
        **FAST,
    )
    notifier(dict(CONTEXT))  # what Airflow calls: renders the fields, then notify()

    [got] = jandi_server.requests
    assert got.json == {
        "body": "train failed (try 2)",
        "connectColor": "#EB5757",
        "connectInfo": [{"title": "Run", "description": CONTEXT["run_id"]}],
    }


def test_message_builder_gets_the_context(jandi_server, webhook):
    def build(context):
        return JandiMessage(f"{context['task_id']} promoted", "resolved", [("Try", "2")])

    JandiNotifier(conn_id=webhook.conn_id, message_builder=build, **FAST).notify(dict(CONTEXT))

    [got] = jandi_server.requests
    assert got.json["body"] == "train promoted"
    assert got.json["connectColor"] == "#27AE60"


def test_unreachable_webhook_does_not_raise(dead_webhook, logs, capsys):
    notifier = JandiNotifier(conn_id=dead_webhook.conn_id, body="x", retries=1, **FAST)

    assert notifier.notify(dict(CONTEXT)) is None
    notifier(dict(CONTEXT))  # Airflow's entry point does not raise either

    warnings = [r.getMessage() for r in logs.records if r.levelno == logging.WARNING]
    expected = "Jandi notification failed: Jandi webhook 'jandi_dead': not delivered after 2"
    assert any(w.startswith(expected) for w in warnings), warnings
    assert_no_leak(dead_webhook.secrets, None, logs, capsys)


def test_server_errors_do_not_raise(jandi_server, webhook, logs, capsys):
    jandi_server.script(["500", "500", "404"])
    notifier = JandiNotifier(conn_id=webhook.conn_id, body="x", retries=1, **FAST)
    notifier.notify(dict(CONTEXT))
    notifier.notify(dict(CONTEXT))  # the 404: not retried, not raised

    assert len(jandi_server.requests) == 3
    assert_no_leak(webhook.secrets, None, logs, capsys)


def test_a_failing_builder_does_not_raise(jandi_server, webhook, caplog):
    def build(context):
        raise KeyError("dag_run")

    JandiNotifier(conn_id=webhook.conn_id, message_builder=build).notify(dict(CONTEXT))

    assert jandi_server.requests == []
    assert any("message not built (KeyError" in r.getMessage() for r in caplog.records)


def test_a_bad_severity_does_not_raise(jandi_server, webhook, caplog):
    JandiNotifier(conn_id=webhook.conn_id, body="x", severity="fatal").notify(dict(CONTEXT))

    assert jandi_server.requests == []
    assert any("unknown severity 'fatal'" in r.getMessage() for r in caplog.records)


def test_unconfigured_notifier_writes_the_outbox(home, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_JANDI_NOWHERE", raising=False)
    JandiNotifier(conn_id="jandi_nowhere", body="{{ task_id }} late", severity="warning")(
        dict(CONTEXT)
    )

    [record] = read_outbox()
    assert record["conn_id"] == "jandi_nowhere"
    assert record["payload"]["body"] == "train late"


def test_async_notify_posts(jandi_server, webhook):
    notifier = JandiNotifier(conn_id=webhook.conn_id, body="deadline missed", severity="critical")
    asyncio.run(notifier.async_notify(dict(CONTEXT)))

    [got] = jandi_server.requests
    assert got.json["connectColor"] == "#9B1B30"


def test_hook_gets_the_notifier_settings():
    notifier = JandiNotifier(conn_id="jandi_x", read_timeout=1.5, retries=1, max_backoff=2.0)
    hook = notifier.hook
    assert (hook.conn_id, hook.read_timeout, hook.retries, hook.max_backoff) == (
        "jandi_x",
        1.5,
        1,
        2.0,
    )
    assert notifier.hook is hook
