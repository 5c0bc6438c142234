"""The promotion record: append-only, one writer per entry number, on file:// and s3://."""

from __future__ import annotations

import threading

import pytest

from r2p.promotion import record


def test_entries_are_created_exclusively_and_folded(storage_root: str) -> None:
    op = record.new_op()
    record.append("p", 1, record.INTENT, op, action="promote", target={"export_key": "k"})
    with pytest.raises(record.RecordConflict):
        record.append("p", 1, record.INTENT, record.new_op(), action="rollback")
    state = record.read("p")
    assert state.open_intent["op"] == op and state.champion is None and state.next_seq == 2
    record.append("p", 2, record.STEP, op, step="register", version=3)
    assert record.read("p").steps["register"]["version"] == 3
    record.append("p", 3, record.COMMITTED, op, champion={"registry_version": 3},
                  previous_champion=None)  # fmt: skip
    state = record.read("p")
    assert state.open_intent is None and state.champion == {"registry_version": 3}
    assert [e["kind"] for e in state.entries] == ["intent", "step", "committed"]


def test_racing_writers_get_one_entry_each(storage_root: str) -> None:
    wins: list[int] = []
    lost: list[int] = []

    def write(i: int) -> None:
        try:
            record.append("race", 1, record.INTENT, f"op{i}", action="promote")
            wins.append(i)
        except record.RecordConflict:
            lost.append(i)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(lost) == 7
    assert record.read("race").open_intent["op"] == f"op{wins[0]}"


def test_a_live_owner_holds_the_lock_until_the_wait_runs_out(home) -> None:
    import os

    entry = record.append("w", 1, record.INTENT, "op", action="promote", who="x")
    assert record.owner_alive({**entry, "pid": os.getppid()}, 900)
    assert not record.owner_alive(entry, 900)  # our own pid: a dead op of this process
    other = {**entry, "host": "elsewhere", "at": "2000-01-01T00:00:00+00:00"}
    assert not record.owner_alive(other, 900)  # another host, lease expired
    # an entry owned by a live process (our parent) keeps the lock: the wait times out
    p = record.storage.root() / record.record_name("w") / "00000001.json"
    data = record.storage.read_json(p)
    data["pid"] = os.getppid()
    p.unlink()
    record.storage.write_json(p, data)
    with pytest.raises(record.LockTimeout, match="has held the lock"):
        record.wait_for_lock("w", wait=0.5, stale_after=900, poll=0.1)
