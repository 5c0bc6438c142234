"""Orchestration overhead on the real scheduler: LocalExecutor and Celery, on PostgreSQL.

For each executor a fresh home and a fresh PostgreSQL database get the supervised stack
(``r2p stack up``); for each size one day of churn sample data (about ``rows`` rows) is landed
and ``<pipeline>_data`` is triggered through Airflow's REST API, like a scheduled run. Per run:

- ``wall``: the run's ``end_date - start_date`` (Airflow's own timestamps);
- ``stages``: the sum of the stages' wall times from the run manifest (the work);
- ``overhead = wall - stages`` and its share of ``wall`` (target: under 15 % at 1M rows/day);
- per task: queued -> running (``start_date - queued_when``) and running -> success beyond the
  stage's own work (process start, imports, callbacks, state reporting).

The training DAG stays paused so nothing else competes for the two cores. Prints JSON.

    .venv/bin/python benchmarks/bench_overhead.py [--rows 100000 1000000] [--executors local celery]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

DAY = dt.date(2026, 11, 16)


def _ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _seconds(a: dt.datetime | None, b: dt.datetime | None) -> float | None:
    return round((b - a).total_seconds(), 3) if a and b else None


def one_run(api: Any, pipeline: str, rows: int, day: dt.date) -> dict[str, Any]:
    """Land ~``rows`` rows for ``day``, run the data DAG through REST, and measure it."""
    from r2p.config import load_pipeline
    from r2p.runner import RunInfo, manifest
    from r2p.sample.landing import generate_days

    cfg = load_pipeline(pipeline)
    per_entity = 1 + sum(s.events_per_entity for s in cfg.dataset.sources if s.kind == "events")
    per_entity += cfg.dataset.label.label_fraction
    entities = max(10, int(rows / per_entity))
    landed = sum(s.rows for s in generate_days(cfg, day, 1, entities=entities))
    dag_id = f"{pipeline}_data"
    logical = f"{day + dt.timedelta(days=1)}T00:00:00Z"
    t0 = time.perf_counter()
    run_id = api.trigger(dag_id, logical)
    run = api.wait_run(dag_id, run_id, timeout=1800)
    client_wall = time.perf_counter() - t0
    if run["state"] != "success":
        raise SystemExit(f"{dag_id} {run_id} ended {run['state']}: see the stack's logs")
    tis = api.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
    stages = manifest(RunInfo(pipeline, run_id))["stages"]
    wall = _seconds(_ts(run["start_date"]), _ts(run["end_date"])) or 0.0
    work = sum(rec["wall_seconds"] for rec in stages.values())
    tasks = []
    for ti in tis["task_instances"]:
        queued, start, end = (_ts(ti.get(k)) for k in ("queued_when", "start_date", "end_date"))
        stage = stages.get(ti["task_id"])
        running = _seconds(start, end)
        tasks.append(
            {
                "task": ti["task_id"],
                "state": ti["state"],
                "queued_to_running_s": _seconds(queued, start),
                "running_s": running,
                "stage_s": round(stage["wall_seconds"], 3) if stage else None,
                "running_beyond_stage_s": (
                    round(running - stage["wall_seconds"], 3) if stage and running else None
                ),
            }
        )
    queue = [t["queued_to_running_s"] for t in tasks if t["queued_to_running_s"] is not None]
    beyond = [t["running_beyond_stage_s"] for t in tasks if t["running_beyond_stage_s"] is not None]
    return {
        "rows_per_day": landed,
        "run_id": run_id,
        "wall_s": wall,
        "client_wall_s": round(client_wall, 2),
        "stages_s": round(work, 3),
        "overhead_s": round(wall - work, 3),
        "overhead_share": round((wall - work) / wall, 4) if wall else None,
        "task_queued_to_running_median_s": round(statistics.median(queue), 3) if queue else None,
        "task_running_beyond_stage_median_s": round(statistics.median(beyond), 3)
        if beyond
        else None,
        "tasks": tasks,
    }


def one_executor(executor: str, rows_list: list[int], pipeline: str) -> dict[str, Any]:
    """A fresh home, database and stack for ``executor``; one data run per size."""
    from r2p.stack import StackConfig, client, down, up
    from r2p.stack.database import drop_database

    db = f"r2p_bench_{executor}_{uuid.uuid4().hex[:8]}"
    db_url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
    with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
        os.environ["R2P_HOME"] = tmp
        os.environ["AIRFLOW_HOME"] = os.path.join(tmp, "airflow")
        cfg = StackConfig(
            db_url=db_url,
            executor=executor,
            api_port=18085,
            broker_url="redis://127.0.0.1:6379/13",  # a db number of its own
        )
        try:
            timings = up(cfg, timeout=300)
            api = client(cfg)
            api.wait_dag(f"{pipeline}_data", timeout=300)
            api.unpause(f"{pipeline}_data")
            runs = [
                one_run(api, pipeline, rows, DAY + dt.timedelta(days=i))
                for i, rows in enumerate(rows_list)
            ]
        finally:
            down()
            drop_database(db_url)
    return {"executor": executor, "stack_up_s": round(timings["up_seconds"], 1), "runs": runs}


def main() -> int:
    from _common import quiet

    quiet()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--executors", nargs="+", default=["local", "celery"])
    parser.add_argument("--pipeline", default="churn")
    args = parser.parse_args()
    results = [one_executor(e, args.rows, args.pipeline) for e in args.executors]
    print(
        json.dumps(
            {
                "benchmark": "overhead",
                "pipeline": args.pipeline,
                "cpu_count": os.cpu_count(),
                "target": "overhead under 15 % of the run's wall time at 1M rows/day",
                "results": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
