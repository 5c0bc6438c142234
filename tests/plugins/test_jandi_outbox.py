"""The outbox: with no connection, the exact request that would have been posted, on disk."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from r2p_jandi import JandiHook, JandiMessage, read_outbox
from r2p_jandi.hook import HEADERS
from r2p_jandi.outbox import append_outbox

MESSAGE = JandiMessage("fleet: data late", "warning", [("Partition", "2026-11-24")])


@pytest.fixture
def no_post(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (and refuses) any attempt to post over HTTP."""
    posts: list[str] = []

    def refuse(self, url, *args, **kwargs):
        posts.append("post")
        raise AssertionError("the outbox path must not post")

    monkeypatch.setattr(requests.Session, "post", refuse)
    return posts


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("AIRFLOW_CONN_JANDI_NOWHERE", raising=False)
    return "jandi_nowhere"


def test_unconfigured_connection_goes_to_the_outbox(home, unconfigured, no_post):
    before = dt.datetime.now(dt.UTC)
    result = JandiHook(unconfigured).send(MESSAGE)

    path = home / "outbox" / "jandi.jsonl"
    assert result == {"status": None, "outbox": str(path), "conn_id": "jandi_nowhere"}
    assert no_post == []
    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert set(record) == {"conn_id", "sent_at", "headers", "payload"}
    assert record["conn_id"] == "jandi_nowhere"
    assert record["headers"] == {
        "Accept": "application/vnd.tosslab.jandi-v2+json",
        "Content-Type": "application/json",
    }
    assert record["payload"] == MESSAGE.payload()
    sent_at = dt.datetime.fromisoformat(record["sent_at"])
    assert sent_at.utcoffset() == dt.timedelta(0)
    assert before <= sent_at <= dt.datetime.now(dt.UTC)
    assert read_outbox() == [record]


def test_outbox_holds_exactly_what_would_have_been_posted(home, jandi_server, webhook):
    JandiHook(webhook.conn_id).send(MESSAGE)
    JandiHook("jandi_nowhere").send(MESSAGE)

    [posted] = jandi_server.requests
    [filed] = read_outbox()
    assert filed["payload"] == posted.json
    assert all(posted.headers[name] == value for name, value in filed["headers"].items())


def test_two_sends_append_two_lines_in_order(home, unconfigured, no_post):
    hook = JandiHook(unconfigured)
    hook.send(JandiMessage("first"))
    hook.send(JandiMessage("second", "resolved"))

    lines = (home / "outbox" / "jandi.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert [r["payload"]["body"] for r in read_outbox()] == ["first", "second"]
    assert [r["payload"]["connectColor"] for r in read_outbox()] == ["#2D9CDB", "#27AE60"]


def test_concurrent_writers_never_interleave(home):
    big = "x" * 3000  # lines larger than a pipe buffer's atomic size, to make tearing likely

    def write(writer: int) -> None:
        for n in range(25):
            append_outbox(f"w{writer}", HEADERS, {"n": n, "writer": writer, "pad": big})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(8)))

    records = read_outbox()
    assert len(records) == 8 * 25
    assert {(r["payload"]["writer"], r["payload"]["n"]) for r in records} == {
        (w, n) for w in range(8) for n in range(25)
    }
    for writer in range(8):  # each writer's own lines stay in its order
        ns = [r["payload"]["n"] for r in records if r["conn_id"] == f"w{writer}"]
        assert ns == list(range(25))


def test_read_outbox_without_a_file_is_empty(home):
    assert read_outbox() == []
    assert read_outbox(home / "elsewhere.jsonl") == []


def test_read_outbox_skips_a_torn_line(home, caplog):
    path = append_outbox("jandi_x", HEADERS, {"body": "kept"})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"conn_id": "jandi_x", "sent_at": "2026-')  # a writer killed mid-line

    assert [r["payload"] for r in read_outbox(str(path))] == [{"body": "kept"}]
    assert any("line 2 is not valid JSON" in r.getMessage() for r in caplog.records)
