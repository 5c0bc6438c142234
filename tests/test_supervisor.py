"""The supervisor with tiny programs: start, restart on crash, crash-loop limit, stop by PID."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from r2p import supervisor as sv

pytestmark = pytest.mark.timeout(60)
PY = sys.executable


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A supervisor state folder; whatever the test leaves running is stopped afterwards."""
    path = tmp_path / "sv"
    try:
        yield path
    finally:
        sv.stop(path, timeout=20)


def _wait(predicate: Callable[[], object], timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _sleeper(name: str = "sleeper", **kw: object) -> sv.Program:
    return sv.Program(
        name, [PY, "-c", "import time; print('up', flush=True); time.sleep(300)"], **kw
    )


def test_start_reports_status_writes_logs_and_stop_leaves_nothing(state: Path) -> None:
    code = (
        "import os, time; print(os.environ['GREETING'], os.getcwd(), flush=True); time.sleep(300)"
    )
    env = {**os.environ, "GREETING": "hello"}
    daemon = sv.start(state, [sv.Program("greeter", [PY, "-c", code], env=env, cwd="/tmp")])
    assert sv.supervisor_pid(state) == daemon and daemon != os.getpid()
    assert psutil.Process(daemon).ppid() != os.getpid()  # detached: not our child
    info = sv.status(state)["programs"]["greeter"]
    assert info["state"] == "running" and info["alive"] and info["restarts"] == 0
    assert info["uptime_seconds"] >= 0
    assert (state / "greeter.pid").read_text().strip() == str(info["pid"])
    _wait(lambda: "hello /tmp" in (state / "greeter.log").read_text())
    assert sv.stop(state) == []  # the daemon stopped it; nothing left for the fallback
    assert not _alive(info["pid"]) and not _alive(daemon)
    assert not (state / "greeter.pid").exists() and not (state / "supervisor.pid").exists()
    after = sv.status(state)
    assert after["supervisor"] is None and after["programs"]["greeter"]["state"] == "stopped"
    assert "greeter pid" in (state / "supervisor.log").read_text()


def test_a_killed_program_is_restarted_and_counted(state: Path) -> None:
    sv.start(state, [_sleeper(backoff_seconds=0.1)])
    first = sv.status(state)["programs"]["sleeper"]["pid"]
    os.kill(first, signal.SIGKILL)

    def restarted() -> dict | None:
        info = sv.status(state)["programs"]["sleeper"]
        return info if info["alive"] and info["pid"] != first else None

    info = restarted_info = _wait(restarted)
    assert isinstance(restarted_info, dict)
    assert info["restarts"] == 1 and info["last_exit"] == -signal.SIGKILL
    assert info["exits"][-1]["exit"] == -9
    log = (state / "supervisor.log").read_text()
    assert f"sleeper pid {first} exited (signal 9)" in log and "restart #1" in log


def test_a_crash_loop_gives_up_after_max_strikes(state: Path) -> None:
    crash = sv.Program(
        "crasher", [PY, "-c", "raise SystemExit(3)"], max_strikes=3, backoff_seconds=0.05
    )
    sv.start(state, [crash, _sleeper()])
    _wait(lambda: sv.status(state)["programs"]["crasher"]["state"] == "fatal")
    info = sv.status(state)["programs"]
    assert info["crasher"]["restarts"] == 2 and info["crasher"]["last_exit"] == 3
    assert info["sleeper"]["alive"]  # the others keep running
    log = (state / "supervisor.log").read_text()
    assert "crasher gave up: 3 exits in a row" in log
    time.sleep(0.5)
    assert sv.status(state)["programs"]["crasher"]["restarts"] == 2  # no more restarts


def test_stop_kills_children_and_escalates_to_sigkill(state: Path) -> None:
    stubborn = (
        "import signal, subprocess, time, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "c = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)']); "
        "print(c.pid, flush=True); time.sleep(300)"
    )
    sv.start(state, [sv.Program("stubborn", [PY, "-c", stubborn], grace_seconds=0.5)])
    leader = sv.status(state)["programs"]["stubborn"]["pid"]
    child = int(_wait(lambda: (state / "stubborn.log").read_text().split("\n")[1].strip()))
    assert _alive(child)
    started = time.monotonic()
    sv.stop(state)
    assert time.monotonic() - started < 10
    assert not _alive(leader) and not _alive(child)
    assert "ignored SIGTERM: SIGKILL" in (state / "supervisor.log").read_text()


def test_stop_after_the_supervisor_was_killed_uses_the_pid_files(state: Path) -> None:
    daemon = sv.start(state, [_sleeper("a"), _sleeper("b")])
    pids = [p["pid"] for p in sv.status(state)["programs"].values()]
    os.kill(daemon, signal.SIGKILL)
    _wait(lambda: not _alive(daemon))
    assert all(_alive(p) for p in pids)  # orphans until someone stops them
    assert sorted(sv.stop(state)) == ["a", "b"]
    assert not any(_alive(p) for p in pids)


def test_a_second_start_is_refused_and_names_must_be_unique(state: Path) -> None:
    sv.start(state, [_sleeper()])
    with pytest.raises(sv.SupervisorError, match="already runs"):
        sv.start(state, [_sleeper()])
    sv.stop(state)
    with pytest.raises(sv.SupervisorError, match="unique"):
        sv.start(state, [_sleeper(), _sleeper()])


def test_the_module_cli_reports_and_stops(state: Path) -> None:
    import json
    import subprocess

    sv.start(state, [_sleeper()])
    run = [PY, "-m", "r2p.supervisor"]
    out = subprocess.run([*run, "status", str(state)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["programs"]["sleeper"]["state"] == "running"
    subprocess.run([*run, "stop", str(state)], capture_output=True, check=True, timeout=30)
    assert sv.supervisor_pid(state) is None
    bad = subprocess.run([*run, "frobnicate", str(state)], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_a_program_that_cannot_start_fails_start_and_leaves_nothing(state: Path) -> None:
    broken = sv.Program("broken", ["/nonexistent/binary"], max_strikes=2, backoff_seconds=0.05)
    with pytest.raises(sv.SupervisorError, match="did not start every program"):
        sv.start(state, [_sleeper(), broken])
    assert sv.supervisor_pid(state) is None
    assert not any(p["alive"] for p in sv.status(state)["programs"].values())
    assert "broken could not start" in (state / "supervisor.log").read_text()
