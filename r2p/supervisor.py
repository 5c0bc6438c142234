"""A small process supervisor: run named programs, restart the ones that die, stop them all.

Generic (nothing here knows about Airflow). A supervisor owns one state folder::

    supervisor.pid   the daemon's PID           supervisor.log   its events (starts, exits,
    programs.json    what to run (mode 0600)                     restarts, give-ups)
    status.json      current state, rewritten   <name>.pid       each program's PID
                     atomically on every change <name>.log       each program's output

Each program runs in its own session (process group = its PID), so stopping it signals the
group and its children die with it: SIGTERM, a grace period, then SIGKILL. A program that
exits while the supervisor is not stopping is restarted after a backoff (doubling from
``backoff_seconds`` up to ``max_backoff_seconds``); a run shorter than ``min_uptime_seconds``
is a crash-loop strike and after ``max_strikes`` strikes in a row the program is left
``fatal``. :func:`start` launches the daemon detached (it survives the calling shell);
:func:`stop` and :func:`status` work from any other process, by the PIDs in the folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

RUNNING, BACKOFF, FATAL, STOPPED = "running", "backoff", "fatal", "stopped"


@dataclass(frozen=True)
class Program:
    """One supervised program: ``argv`` run in ``cwd`` with ``env`` (None: inherit)."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    grace_seconds: float = 15.0
    min_uptime_seconds: float = 10.0
    max_strikes: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0


class SupervisorError(RuntimeError):
    """The daemon could not be started, or a program never came up."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def _process(pid: int | None, created: float | None = None) -> psutil.Process | None:
    """The live process ``pid`` (if ``created`` is given, only the one started then)."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if created is not None and abs(proc.create_time() - created) > 0.05:
            return None  # the PID was reused by another process
        return proc
    except psutil.Error:
        return None


def _group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process is in process group ``pgid``."""
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
    return False


def _signal(pgid: int, procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _gone(pgid: int, procs: list[psutil.Process], wait: float) -> bool:
    deadline = time.monotonic() + wait
    while True:
        procs = [p for p in procs if _process(p.pid, p.create_time()) is not None]
        if not procs and not _group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def kill_tree(pid: int, grace: float, created: float | None = None) -> bool:
    """SIGTERM process group ``pid`` and the descendants of process ``pid`` (also those that
    left its group), wait up to ``grace`` seconds, then SIGKILL what is left. With ``created``,
    a reused PID (another process) is left alone. True when something was signalled."""
    leader = _process(pid, created)
    if leader is None and (_process(pid) is not None or not _group_alive(pid)):
        return False  # nothing left, or the PID now belongs to someone else
    try:
        procs = [leader, *leader.children(recursive=True)] if leader else []
    except psutil.Error:
        procs = []
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        _signal(pid, procs, sig)
        if _gone(pid, procs, wait):
            break
    return True


@dataclass
class _Child:
    program: Program
    proc: subprocess.Popen | None = None
    state: str = BACKOFF
    pid: int | None = None
    created: float | None = None
    started_at: str | None = None
    started_mono: float = 0.0
    restarts: int = -1  # the first start is not a restart
    strikes: int = 0
    next_start: float = 0.0
    last_exit: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class Supervisor:
    """The daemon's loop (runs in the foreground; :func:`start` runs it detached)."""

    def __init__(self, state_dir: Path, programs: list[Program]) -> None:
        self.dir = Path(state_dir)
        self.children = [_Child(p) for p in programs]
        self.stopping = False

    def log(self, message: str) -> None:
        with (self.dir / "supervisor.log").open("a") as out:
            out.write(f"{_now()} {message}\n")

    def run(self) -> None:
        """Start every program, keep them up until SIGTERM/SIGINT, then stop them all."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self.log(f"supervisor {os.getpid()} up: {[c.program.name for c in self.children]}")
        try:
            while not self.stopping:
                changed = any([self._tick(c) for c in self.children])
                if changed:
                    self._write_status()
                time.sleep(0.2)
        finally:
            self._stop_all()
            self._write_status()
            self.log("supervisor stopped")

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stopping = True

    def _tick(self, c: _Child) -> bool:
        if c.state == RUNNING and c.proc is not None and c.proc.poll() is not None:
            self._exited(c)
            return True
        if c.state == BACKOFF and time.monotonic() >= c.next_start and not self.stopping:
            self._spawn(c)
            return True
        return False

    def _spawn(self, c: _Child) -> None:
        p = c.program
        log = (self.dir / f"{p.name}.log").open("ab")
        c.restarts += 1
        log.write(f"=== {_now()} start #{c.restarts + 1}: {' '.join(p.argv)}\n".encode())
        log.flush()
        try:
            c.proc = subprocess.Popen(
                p.argv,
                env=p.env,
                cwd=p.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            self.log(f"{p.name} could not start: {exc}")
            c.proc, c.last_exit = None, None
            self._schedule_restart(c, 0.0)
            return
        finally:
            log.close()
        c.pid, c.state = c.proc.pid, RUNNING
        c.created = _process(c.pid).create_time() if _process(c.pid) else None
        c.started_at, c.started_mono = _now(), time.monotonic()
        _write_atomic(self.dir / f"{p.name}.pid", f"{c.pid}\n")
        again = f" (restart {c.restarts})" if c.restarts else ""
        self.log(f"{p.name} started pid {c.pid}{again}")

    def _exited(self, c: _Child) -> None:
        assert c.proc is not None and c.pid is not None
        code, uptime = c.proc.returncode, time.monotonic() - c.started_mono
        how = f"signal {-code}" if code < 0 else f"code {code}"
        c.last_exit = code
        kill_tree(c.pid, min(c.program.grace_seconds, 5.0))  # its orphaned children too
        c.history = [*c.history[-9:], {"at": _now(), "exit": code, "uptime": round(uptime, 2)}]
        self.log(f"{c.program.name} pid {c.pid} exited ({how}) after {uptime:.1f} s")
        self._schedule_restart(c, uptime)

    def _schedule_restart(self, c: _Child, uptime: float) -> None:
        p = c.program
        c.strikes = c.strikes + 1 if uptime < p.min_uptime_seconds else 0
        (self.dir / f"{p.name}.pid").unlink(missing_ok=True)
        if c.strikes >= p.max_strikes:
            c.state = FATAL
            self.log(
                f"{p.name} gave up: {c.strikes} exits in a row within {p.min_uptime_seconds} s"
            )
            return
        delay = min(p.max_backoff_seconds, p.backoff_seconds * 2 ** max(c.strikes - 1, 0))
        c.state, c.next_start = BACKOFF, time.monotonic() + delay
        self.log(f"{p.name} restart #{c.restarts + 1} in {delay:.1f} s (strike {c.strikes})")

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.state == RUNNING and c.pid and c.proc]
        self.log(f"stopping {[c.program.name for c in running]}")
        trees = {}
        for c in reversed(running):  # signal all at once, then wait for each in turn
            leader = _process(c.pid)
            trees[c.pid] = leader.children(recursive=True) if leader else []
            _signal(c.pid, [], signal.SIGTERM)
        for c in reversed(running):
            assert c.proc is not None and c.pid is not None
            try:
                c.proc.wait(timeout=c.program.grace_seconds)
            except subprocess.TimeoutExpired:
                self.log(f"{c.program.name} pid {c.pid} ignored SIGTERM: SIGKILL")
                _signal(c.pid, [c.proc], signal.SIGKILL)  # type: ignore[list-item]
                c.proc.wait(timeout=10)
            c.last_exit = c.proc.returncode
            kill_tree(c.pid, 2.0)  # members of its group still alive
            _signal(c.pid, trees[c.pid], signal.SIGKILL)  # descendants that left the group
            self.log(f"{c.program.name} pid {c.pid} stopped (exit {c.last_exit})")
        for c in self.children:
            c.state = STOPPED
            (self.dir / f"{c.program.name}.pid").unlink(missing_ok=True)

    def _write_status(self) -> None:
        programs = {
            c.program.name: {
                "state": c.state,
                "pid": c.pid if c.state == RUNNING else None,
                "created": c.created if c.state == RUNNING else None,
                "started_at": c.started_at,
                "restarts": max(c.restarts, 0),
                "strikes": c.strikes,
                "last_exit": c.last_exit,
                "exits": c.history,
                "log": str(self.dir / f"{c.program.name}.log"),
            }
            for c in self.children
        }
        body = {"supervisor": os.getpid(), "updated_at": _now(), "programs": programs}
        _write_atomic(self.dir / "status.json", json.dumps(body, indent=2))


# --- from other processes -------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def supervisor_pid(state_dir: Path) -> int | None:
    """The running supervisor daemon of ``state_dir`` (None when there is none)."""
    try:
        pid = int((Path(state_dir) / "supervisor.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    proc = _process(pid)
    try:
        cmd = proc.cmdline() if proc else []
    except psutil.Error:
        return None
    ours = "r2p.supervisor" in cmd and str(Path(state_dir).resolve()) in cmd
    return pid if ours else None


def start(state_dir: Path, programs: list[Program], timeout: float = 30.0) -> int:
    """Launch the supervisor daemon for ``programs`` (detached) and return its PID once every
    program has been started. Raises SupervisorError if one is already running there."""
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    if supervisor_pid(state):
        raise SupervisorError(f"a supervisor already runs for {state} (stop it first)")
    names = [p.name for p in programs]
    if len(set(names)) != len(names):
        raise SupervisorError(f"program names must be unique: {names}")
    for stale in ("supervisor.pid", "status.json"):
        (state / stale).unlink(missing_ok=True)
    spec = [dataclasses.asdict(p) for p in programs]
    _write_atomic(state / "programs.json", json.dumps(spec, indent=2), mode=0o600)
    subprocess.run(
        [sys.executable, "-m", "r2p.supervisor", "daemon", str(state)],
        check=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = supervisor_pid(state)
        programs_now = _read_json(state / "status.json").get("programs", {})
        if pid and all(programs_now.get(n, {}).get("state") == RUNNING for n in names):
            return pid
        if any(p.get("state") == FATAL for p in programs_now.values()):
            break
        time.sleep(0.1)
    stop(state)  # what did start is not left running
    tail = (
        (state / "supervisor.log").read_text()[-2000:]
        if (state / "supervisor.log").exists()
        else ""
    )
    raise SupervisorError(f"supervisor in {state} did not start every program:\n{tail}")


def status(state_dir: Path) -> dict[str, Any]:
    """The supervisor's PID (None when down) and each program's state, PID (checked alive),
    uptime in seconds, restart count and last exit code."""
    state = Path(state_dir)
    body = _read_json(state / "status.json")
    now = dt.datetime.now(dt.UTC)
    programs = {}
    for name, p in body.get("programs", {}).items():
        alive = _process(p.get("pid"), p.get("created")) is not None
        started = p.get("started_at")
        uptime = (now - dt.datetime.fromisoformat(started)).total_seconds() if alive else None
        programs[name] = {**p, "alive": alive, "uptime_seconds": uptime}
    return {"supervisor": supervisor_pid(state), "programs": programs}


def stop(state_dir: Path, timeout: float = 60.0) -> list[str]:
    """Stop the daemon (which stops its programs), then kill any program it left behind
    (by the PIDs it recorded). Returns the names killed by that fallback."""
    state = Path(state_dir)
    pid = supervisor_pid(state)
    if pid:
        os.kill(pid, signal.SIGTERM)
        proc = _process(pid)
        try:
            if proc:
                proc.wait(timeout=timeout)
        except psutil.TimeoutExpired:
            proc.kill()
    leftover = []
    for name, p in _read_json(state / "status.json").get("programs", {}).items():
        ppid = p.get("pid")
        if ppid is None:
            pid_file = state / f"{name}.pid"
            ppid = int(pid_file.read_text()) if pid_file.exists() else None
        if ppid and kill_tree(ppid, 5.0, p.get("created")):
            leftover.append(name)
        (state / f"{name}.pid").unlink(missing_ok=True)
    (state / "supervisor.pid").unlink(missing_ok=True)
    return leftover


def _serve(state: Path) -> None:
    spec = json.loads((state / "programs.json").read_text())
    _write_atomic(state / "supervisor.pid", f"{os.getpid()}\n")
    try:
        Supervisor(state, [Program(**p) for p in spec]).run()
    finally:
        (state / "supervisor.pid").unlink(missing_ok=True)


def _daemon(state: Path) -> None:
    """Fork away from the caller (who returns at once), then run the supervisor loop."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    log = os.open(state / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    _serve(state)


def main(argv: list[str] | None = None) -> int:
    """``python -m r2p.supervisor daemon|run|status|stop STATE_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("daemon", "run", "status", "stop"):
        print("usage: python -m r2p.supervisor daemon|run|status|stop STATE_DIR", file=sys.stderr)
        return 2
    action, state = args[0], Path(args[1]).resolve()
    if action == "daemon":
        _daemon(state)
    elif action == "run":
        _serve(state)
    elif action == "status":
        print(json.dumps(status(state), indent=2))
    else:
        print(json.dumps({"killed_leftovers": stop(state)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
