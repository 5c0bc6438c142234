"""The data DAG at scale: per-stage seconds and rows/s at 100k and 1M rows per day.

Each size lands one day of churn sample data sized to about that many rows (profile +
activity + labels), runs ``<pipeline>_data`` for real through ``dag.test()`` (the same
path as ``airflow dags test``), and reads the stage records of the run manifest. The run's
wall time includes Airflow's own start-up and per-task overhead; "work" is the sum of the
stages' wall times. Prints JSON, with the growth from the smallest to the largest size.

    .venv/bin/python benchmarks/bench_data_dag.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time

DAY = dt.date(2026, 11, 16)


def run(rows: int, pipeline: str) -> dict:
    """Land ~``rows`` rows for one day, run the data DAG, and report its stages."""
    from r2p.config import load_pipeline
    from r2p.orchestration.dagtest import run_dag_tests
    from r2p.runner import RunInfo, manifest
    from r2p.sample.landing import generate_days

    cfg = load_pipeline(pipeline)
    per_entity = 1 + sum(s.events_per_entity for s in cfg.dataset.sources if s.kind == "events")
    per_entity += cfg.dataset.label.label_fraction
    entities = max(10, int(rows / per_entity))
    written = generate_days(cfg, DAY, 1, entities=entities)
    landed = sum(s.rows for s in written)
    t0 = time.perf_counter()
    (result,) = run_dag_tests(f"{pipeline}_data", [DAY])
    wall = time.perf_counter() - t0
    if not result.ok:
        raise SystemExit(f"the data DAG failed; see {result.log_file}")
    stages = manifest(RunInfo(pipeline, result.run_id))["stages"]
    out = {}
    for name, rec in stages.items():
        o = rec["outputs"] if isinstance(rec["outputs"], dict) else {}
        n = o.get("rows_landed") or sum(s["rows"] for s in o.get("sources", {}).values()) or landed
        out[name] = {
            "seconds": round(rec["wall_seconds"], 3),
            "rows": n,
            "rows_per_s": round(n / rec["wall_seconds"]) if rec["wall_seconds"] else None,
            "cpu_seconds": round(rec["cpu_seconds"], 3),
            "peak_rss_mib": round(rec["peak_rss_bytes"] / 2**20),
        }
    work = sum(s["seconds"] for s in out.values())
    return {
        "rows_per_day": landed,
        "entities": entities,
        "stages": out,
        "work_seconds": round(work, 2),
        "dag_run_wall_seconds": round(wall, 2),
        "work_rows_per_s": round(landed / work),
    }


def main() -> int:
    from _common import quiet

    quiet()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--pipeline", default="churn")
    args = parser.parse_args()
    results = []
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
            os.environ["R2P_HOME"] = tmp
            os.environ["AIRFLOW_HOME"] = os.path.join(tmp, "airflow")
            results.append(run(rows, args.pipeline))
    first, last = results[0], results[-1]
    growth = {
        "rows_ratio": round(last["rows_per_day"] / first["rows_per_day"], 2),
        "work_ratio": round(last["work_seconds"] / first["work_seconds"], 2),
    }
    print(
        json.dumps(
            {
                "benchmark": "data_dag",
                "pipeline": args.pipeline,
                "cpu_count": os.cpu_count(),
                "results": results,
                "growth": growth,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
