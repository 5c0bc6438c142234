"""Crash safety: a promotion killed (SIGKILL) between any two steps leaves the old champion
served and recorded until its commit; a rerun completes the open intent or abandons it; two
operations at once serialise on the record's lock and never corrupt it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from r2p.export.lineage import describe
from r2p.promotion import promote as p
from r2p.promotion import record, registry
from r2p.promotion.record import ABANDONED, COMMITTED, INTENT
from r2p.promotion.serving_folder import served

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from r2p.config import load_pipeline
    from r2p.export.lineage import describe
    import r2p.promotion.promote as p

    action, arg, kill_after = sys.argv[1], sys.argv[2], sys.argv[3]

    def hook(step):
        if step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    p._after_step = hook
    cfg = load_pipeline("churn")
    if action == "promote":
        p.promote(cfg, describe(arg), reason="crash test", who="child")
    else:
        p.rollback(cfg, reason="race test", who="child")
    """
)
KILLED_BEFORE_COMMIT = ["intent", "register", "previous_champion", "champion", "publish"]


def _child(action: str, arg: str, kill_after: str = "-") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, action, arg, kill_after],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _consistent(pipeline: str = "churn") -> record.State:
    """The record is well formed, and the aliases and the serving folder follow it."""
    state = record.read(pipeline)
    assert [e["seq"] for e in state.entries] == list(range(1, len(state.entries) + 1))
    open_op = None
    for e in state.entries:  # operations never interleave: each intent is closed before the next
        if e["kind"] == INTENT:
            assert open_op is None, f"intent {e['seq']} while {open_op} was open"
            open_op = e["op"]
        elif e["kind"] in (COMMITTED, ABANDONED):
            assert e["op"] == open_op
            open_op = None
        elif open_op is not None:
            assert e["op"] == open_op
    assert state.open_intent is None
    assert served(pipeline)["version"] == state.champion["registry_version"]
    assert served(pipeline)["pb_sha256"] == state.champion["pb_sha256"]
    aliases = registry.aliases(pipeline)
    assert aliases.get("champion") == state.champion["registry_version"]
    assert aliases.get("previous_champion") == state.previous_champion["registry_version"]
    return state


def _announcements() -> list[str]:
    from r2p_jandi import read_outbox

    return [m["payload"]["body"] for m in read_outbox()]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [*KILLED_BEFORE_COMMIT, "commit", "notify"])
def test_kill_between_steps_then_rerun_completes(world_copy, kill_after: str) -> None:
    target = world_copy.exports["C"]["uri"]
    sent_before = len(_announcements())
    child = _child("promote", target, kill_after)
    out, _ = child.communicate(timeout=300)
    assert child.returncode == -9, out[-3000:]
    state = record.read("churn")
    if kill_after in KILLED_BEFORE_COMMIT:
        assert state.champion["registry_version"] == 2  # still the old champion ...
        assert served("churn")["version"] == 2  # ... and still what is served
        assert state.open_intent is not None and state.open_intent["action"] == "promote"
    else:
        assert state.open_intent is None and state.champion["export_key"] != ""
        assert served("churn")["version"] == state.champion["registry_version"] != 2
    # the rerun (a fresh process: the owner is dead) completes the open intent
    again = p.promote(world_copy.cfg, describe(target), reason="crash test, rerun", who="t")
    final = _consistent()
    assert final.champion["export_key"] == describe(target)["export_key"]
    assert final.previous_champion["registry_version"] == 2
    if kill_after in KILLED_BEFORE_COMMIT:
        assert again["outcome"] == "promoted" and again["resumed"] == (kill_after != "intent")
    else:
        assert again["outcome"] == "unchanged"
    promoted = [b for b in _announcements()[sent_before:] if "champion promoted" in b]
    assert len(promoted) == 1, promoted  # announced once, crash or not


@pytest.mark.slow
def test_kill_then_a_different_operation_abandons_the_open_intent(world_copy) -> None:
    child = _child("promote", world_copy.exports["C"]["uri"], "champion")
    child.communicate(timeout=300)
    assert record.read("churn").open_intent is not None
    assert registry.aliases("churn")["champion"] != 2  # the aliases ran ahead of the record
    out = p.rollback(world_copy.cfg, reason="on-call: back to v1", who="oncall")
    assert out["outcome"] == "rolled_back" and out["champion"]["registry_version"] == 1
    state = _consistent()
    abandoned = [e for e in state.entries if e["kind"] == ABANDONED]
    assert len(abandoned) == 1 and "superseded by rollback" in abandoned[0]["reason"]
    assert p.history("churn")[-2]["kind"] == "abandoned"


@pytest.mark.slow
def test_promotion_and_rollback_at_once_serialise(world_copy) -> None:
    a = _child("promote", world_copy.exports["C"]["uri"])
    b = _child("rollback", "-")
    out_a, _ = a.communicate(timeout=600)
    out_b, _ = b.communicate(timeout=600)
    assert a.returncode == 0, out_a[-3000:]
    assert b.returncode == 0, out_b[-3000:]
    state = _consistent()
    ops = [e for e in state.entries if e["kind"] == COMMITTED]
    assert [e["action"] for e in ops[-2:]] in (["promote", "rollback"], ["rollback", "promote"])
    # whichever went second saw the first's result: nothing was lost
    if ops[-1]["action"] == "rollback":
        assert state.champion["registry_version"] == 2  # C then back to the previous (v2)
    else:
        assert (
            state.champion["export_key"] == describe(world_copy.exports["C"]["uri"])["export_key"]
        )
        assert state.previous_champion["registry_version"] == 1
