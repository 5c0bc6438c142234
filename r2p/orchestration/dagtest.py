"""Run a pipeline's DAG for one partition through ``airflow dags test`` (embedded default).

The partition ``ds`` is the UTC date of the interval's start; with the daily
CronDataIntervalTimetable the run whose interval is [ds, ds+1) has logical date ds+1, which is
what this module passes, so callers think in partitions, never in logical dates.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from r2p.home import airflow_env, logs_dir
from r2p.orchestration.dagtest_batch import DAG_TEST_ENV, MARKER

# Opt-in (the test suite sets it): run_dag_test runs ``airflow dags test`` in a process forked
# from a forkserver that has already imported the heavy third-party libraries (TensorFlow,
# PyTorch, GX, Feast, MLflow, pandas, pyarrow), instead of a fresh interpreter importing them
# per run. Airflow and r2p are imported in the forked child, after its environment is set, so
# the child runs the same CLI code with the same configuration as a subprocess would; only
# library import time is shared. run_dag_tests runs its batch module the same way.
FORKSERVER_ENV = "R2P_DAGTEST_FORKSERVER"
BATCH = "r2p.orchestration.dagtest_batch"
PRELOAD = ("r2p.orchestration.dagtest_preload",)

_FINISHED = re.compile(r"DagRun Finished: dag_id=(\S+?), .*?run_id=([^,]+), .*?state=(\w+)")


@dataclass
class DagTestResult:
    dag_id: str
    ds: dt.date
    returncode: int
    run_id: str | None
    state: str | None
    log_file: Path
    task_states: dict[str, tuple[str | None, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.state == "success"


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")


def _forked() -> bool:
    return os.environ.get(FORKSERVER_ENV, "").lower() in ("1", "true", "yes")


def _child(argv: list[str], env: dict[str, str], cwd: str, log: str) -> None:
    """In the forked child: this run's environment, output to ``log``, then the command."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    if any(name == "airflow" or name.startswith("airflow.") for name in sys.modules):
        # Airflow was imported before this run's environment was set (by the parent's main
        # module, re-imported here): its settings could be stale, so run a fresh interpreter.
        exe = [_airflow()] if argv[0] == "airflow" else [sys.executable, "-m", BATCH]
        os.execve(exe[0], exe + argv[1:], env)
    code: int | str | None = 0
    try:
        if argv[0] == "airflow":
            from airflow.__main__ import main

            sys.argv = argv
            main()
        else:  # as ``python -m``: run as a plain import, its dag.test() fails on deadline alerts
            import runpy

            sys.argv = [BATCH, *argv[1:]]
            runpy.run_module(BATCH, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


def _run_forked(argv: list[str], env: dict[str, str], log: Path, timeout: float) -> int:
    """Run ``argv`` (``airflow ...`` or ``batch DAG_ID DATE...``) in a child of the preloaded
    forkserver; its output goes to ``log``; its exit status is returned."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    proc = ctx.Process(target=_child, args=(argv, env, os.getcwd(), str(log)))
    proc.start()
    try:
        proc.join(timeout)
        timed_out = proc.exitcode is None
    finally:
        if proc.exitcode is None:  # timed out or interrupted (a test's timeout): as subprocess.run
            proc.kill()
            proc.join()
    if timed_out:
        raise subprocess.TimeoutExpired(argv, timeout)
    return proc.exitcode


def ensure_db(env: dict[str, str]) -> None:
    """Create or upgrade the Airflow metadata database (idempotent; fast when current).

    On the embedded home (under ``R2P_HOME``) its ``airflow.cfg`` is refreshed first (this
    project's DAG and plugin folders, no examples, paths of the current home:
    :mod:`r2p.orchestration.airflow_cfg`), so ``airflow`` typed in a shell with that
    ``AIRFLOW_HOME`` sees what r2p runs; a new database gets the DAGs serialized into it, so
    ``airflow dags list`` lists them before any run.
    """
    from r2p.orchestration.airflow_cfg import is_managed, write_airflow_cfg

    managed = is_managed(env["AIRFLOW_HOME"], env.get("R2P_HOME") or env["AIRFLOW_HOME"])
    if managed and Path(env["AIRFLOW_HOME"], "airflow.cfg").exists():
        write_airflow_cfg(env)  # before migrate: a moved home's database is the current one
    stamp = Path(env["AIRFLOW_HOME"]) / ".r2p-db-migrated"
    if stamp.exists() and "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env:
        return
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    if managed:
        write_airflow_cfg(env)  # Airflow generates it (secrets included), then r2p's keys
    done = subprocess.run(
        [_airflow(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"airflow db migrate failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    if managed and not stamp.exists():
        # a failure here (a broken DAG file) is recorded as an import error; runs still work
        subprocess.run(
            [_airflow(), "dags", "reserialize"], env=env, capture_output=True, timeout=600
        )
    stamp.touch()


def task_states(env: dict[str, str], dag_id: str, run_id: str) -> dict[str, tuple[str | None, int]]:
    """{task: (state, try_number)} of a run, from the embedded SQLite metadata database.

    A task mapped over several candidates is one entry per instance, ``task[<model>]`` (the
    stage records' names); mapped over one, it is the plain task id."""
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in env or not db.exists():
        return {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute(
            "SELECT task_id, map_index, rendered_map_index, state, try_number FROM task_instance"
            " WHERE dag_id=? AND run_id=? ORDER BY task_id, map_index",
            (dag_id, run_id),
        ).fetchall()
    mapped = Counter(task for task, index, *_ in rows if index >= 0)
    # an instance that never ran has no rendered name: its index names the same candidate
    # in every task of the group
    names = {index: shown for _, index, shown, *_ in rows if index >= 0 and shown}
    return {
        (f"{task}[{shown or names.get(index, index)}]" if mapped[task] > 1 else task): (
            state,
            tries,
        )
        for task, index, shown, state, tries in rows
    }


def run_dag_tests(
    dag_id: str, days: list[dt.date], env: dict[str, str] | None = None, timeout: float = 3600
) -> list[DagTestResult]:
    """``dag.test()`` for each partition in ``days``, in one Airflow process (imports once)."""
    env = {**airflow_env(env if env is not None else dict(os.environ)), DAG_TEST_ENV: "1"}
    ensure_db(env)
    log_file = logs_dir() / "dags-test" / f"{dag_id}__{days[0]}..{days[-1]}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logical = [(ds + dt.timedelta(days=1)).isoformat() for ds in days]
    if _forked():
        returncode = _run_forked(["batch", dag_id, *logical], env, log_file, timeout)
    else:
        with log_file.open("w") as out:
            returncode = subprocess.run(
                [sys.executable, "-m", BATCH, dag_id, *logical],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
            ).returncode
    runs = [
        json.loads(line.split(MARKER, 1)[1])
        for line in log_file.read_text().splitlines()
        if MARKER in line
    ]
    results = []
    for ds, date in zip(days, logical, strict=True):
        run = next((r for r in runs if r["logical_date"] == date), None)
        run_id, state = (run["run_id"], run["state"]) if run else (None, None)
        rc = 0 if state == "success" else (returncode or 1)
        states = task_states(env, dag_id, run_id) if run_id else {}
        results.append(DagTestResult(dag_id, ds, rc, run_id, state, log_file, states))
    return results


def run_dag_test(
    dag_id: str,
    ds: dt.date,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    conf: dict | None = None,
) -> DagTestResult:
    """``airflow dags test`` of ``dag_id`` for partition ``ds`` (with the run's ``conf``, for
    params); output goes to a log file."""
    env = {**airflow_env(env if env is not None else dict(os.environ)), DAG_TEST_ENV: "1"}
    ensure_db(env)
    logical = (ds + dt.timedelta(days=1)).isoformat()
    log_file = logs_dir() / "dags-test" / f"{dag_id}__ds={ds.isoformat()}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    args = ["dags", "test", dag_id, logical] + (
        ["--conf", json.dumps(conf)] if conf is not None else []
    )
    if _forked():
        returncode = _run_forked(["airflow", *args], env, log_file, timeout)
        output = log_file.read_text() if log_file.exists() else ""
    else:
        done = subprocess.run(
            [_airflow(), *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        returncode, output = done.returncode, done.stdout + done.stderr
        log_file.write_text(output)
    match = _FINISHED.search(output)
    run_id, state = (match.group(2), match.group(3)) if match else (None, None)
    states = task_states(env, dag_id, run_id) if run_id else {}
    return DagTestResult(dag_id, ds, returncode, run_id, state, log_file, states)
