"""The stage runner: every stage goes through :func:`run_stage`.

It gives every log line the run id, writes the run's log file under the home, measures wall
time, CPU time and peak memory, and records them (with code version and lock-file hash) as
one record per stage in the run manifest under the storage root. A stage is a plain function;
Airflow tasks, the CLI and tests all call it through here.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import json
import logging
import os
import resource
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psutil

from r2p import storage
from r2p.home import logs_dir
from r2p.versioning import code_version, git_commit, lock_hash

T = TypeVar("T")
_RUN_ID: contextvars.ContextVar[str] = contextvars.ContextVar("r2p_run_id", default="-")
_STAGE: contextvars.ContextVar[str] = contextvars.ContextVar("r2p_stage", default="-")
LOG_FORMAT = "%(asctime)s %(levelname)s run=%(run_id)s stage=%(stage)s %(name)s: %(message)s"
log = logging.getLogger("r2p.runner")


@dataclass(frozen=True)
class RunInfo:
    """Which run a stage belongs to: its pipeline and run id (the Airflow run id in a DAG),
    and the hash of the run's config snapshot (``r2p.run_config``) when it has one."""

    pipeline: str
    run_id: str
    config_hash: str | None = None

    @property
    def safe_id(self) -> str:
        """The run id made safe for file and key names."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.run_id)


class _RunContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = _RUN_ID.get()
        record.stage = _STAGE.get()
        return True


def run_log_path(run: RunInfo) -> os.PathLike[str]:
    """The log file of a run: ``$R2P_HOME/logs/runs/<pipeline>/<run id>.log``."""
    folder = logs_dir() / "runs" / run.pipeline
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{run.safe_id}.log"


@contextmanager
def _run_logging(run: RunInfo, stage: str) -> Iterator[None]:
    tokens = (_RUN_ID.set(run.run_id), _STAGE.set(stage))
    handler = logging.FileHandler(run_log_path(run), encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(_RunContextFilter())
    r2p_logger = logging.getLogger("r2p")
    r2p_logger.addHandler(handler)
    old_level = r2p_logger.level
    if r2p_logger.getEffectiveLevel() > logging.INFO:
        r2p_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        r2p_logger.removeHandler(handler)
        r2p_logger.setLevel(old_level)
        handler.close()
        _RUN_ID.reset(tokens[0])
        _STAGE.reset(tokens[1])


class _PeakRss:
    """Samples this process's resident memory in a thread; ``peak`` is the stage's maximum."""

    def __init__(self, interval: float = 0.02) -> None:
        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.start_rss = self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def stage_record_path(run: RunInfo, stage: str) -> storage.ObjectStoragePath:
    """Where a stage's record lives: ``runs/<pipeline>/<run id>/stages/<stage>.json``."""
    return storage.root() / "runs" / run.pipeline / run.safe_id / "stages" / f"{stage}.json"


def run_stage(run: RunInfo, stage: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` as stage ``stage`` of ``run``, recording what it cost.

    The record is written whether the stage succeeds or raises; a rerun of the same stage
    replaces its record. The stage's return value (a dict of outputs, ideally URIs) is
    recorded when it is JSON-serialisable and returned unchanged.
    """
    started = dt.datetime.now(dt.UTC)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    status, error, result = "success", None, None
    with _run_logging(run, stage), _PeakRss() as mem:
        log.info("stage %s started (pid %d)", stage, os.getpid())
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            status = "failed"
            error = {
                "type": type(exc).__name__,
                "message": str(exc)[:2000],
                "traceback": traceback.format_exc(limit=20)[-4000:],
            }
            log.error("stage %s failed: %s: %s", stage, type(exc).__name__, exc)
            raise
        finally:
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            if status == "success":
                log.info("stage %s finished in %.3fs (cpu %.3fs)", stage, wall, cpu)
            record = {
                "pipeline": run.pipeline,
                "run_id": run.run_id,
                "stage": stage,
                "status": status,
                "error": error,
                "started_at": started.isoformat(),
                "ended_at": dt.datetime.now(dt.UTC).isoformat(),
                "wall_seconds": round(wall, 6),
                "cpu_seconds": round(cpu, 6),
                "peak_rss_bytes": mem.peak,
                "start_rss_bytes": mem.start_rss,
                "process_max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "code_version": code_version(),
                "git_commit": git_commit(),
                "lock_hash": lock_hash(),
                "config_hash": run.config_hash,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "log_file": str(run_log_path(run)),
                "outputs": _jsonable(result),
            }
            storage.write_json(stage_record_path(run, stage), record)
    return result  # type: ignore[return-value]


def _jsonable(value: Any) -> Any:
    """The stage's outputs as JSON values (dataclasses and dates included), else their repr."""

    def default(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        if isinstance(obj, dt.date | dt.datetime):
            return obj.isoformat()
        raise TypeError(type(obj).__name__)

    try:
        return json.loads(json.dumps(value, default=default))
    except (TypeError, ValueError):
        return repr(value)[:500]


def manifest(run: RunInfo) -> dict[str, Any]:
    """The run manifest: every stage record of the run, by stage name, in start order."""
    folder = storage.root() / "runs" / run.pipeline / run.safe_id / "stages"
    records = []
    if folder.exists():
        records = [storage.read_json(p) for p in folder.iterdir() if p.name.endswith(".json")]
    records.sort(key=lambda r: r["started_at"])
    config = None
    snapshots = storage.root() / "runs" / run.pipeline / run.safe_id / "config"
    found = (
        [p for p in snapshots.iterdir() if p.name.endswith(".json")] if snapshots.exists() else []
    )
    if found:  # the run's config snapshot (r2p.run_config); the newest instance of the run id
        stored = [(storage.read_json(p), p) for p in found]
        newest, where = max(stored, key=lambda rp: rp[0]["resolved_at"])
        config = {
            "config_hash": newest["config_hash"],
            "resolved_at": newest["resolved_at"],
            "instance": newest.get("instance"),
            "source": newest.get("source"),
            "uri": storage.uri_of(where),
        }
    return {
        "pipeline": run.pipeline,
        "run_id": run.run_id,
        "code_version": code_version(),
        "lock_hash": lock_hash(),
        "config": config,
        "stages": {r["stage"]: r for r in records},
    }
