"""Benchmark the ingest stage against raw pyarrow, and GX validation, in one run.

For each size (events per day), one landing partition of churn's event source is ingested
(contract and sha256 checks, strict CSV parse, type coercion, row-defect checks, sorted typed
Parquet committed by the storage protocol). The peer is what a hand-written job does: a raw
``pyarrow.csv.read_csv`` with type inference and a ``pq.write_table``. Also timed: the
Great Expectations suite on the same partition. Prints JSON with ratios.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 100000 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import best_of

DAY = dt.date(2026, 11, 16)


def bench(rows: int, repeat: int, workdir: Path) -> dict[str, object]:
    """Figures for one partition of about ``rows`` events."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from r2p.config import load_pipeline
    from r2p.ingest.contract import partition_path
    from r2p.ingest.stage import ingest_source
    from r2p.intervals import day_interval
    from r2p.sample.generator import Generator
    from r2p.sample.landing import write_partition
    from r2p.validation.stage import _context, _run_suite

    cfg = load_pipeline("churn")
    src = cfg.source("activity")
    entities = max(10, int(rows / src.events_per_entity))
    df = Generator.for_config(cfg, entities=entities).source("activity", DAY)
    write_partition(cfg, "activity", DAY, df)
    landing_file = Path(str(partition_path(cfg, "activity", DAY)).removeprefix("file://"))
    landing_file = landing_file / "part-00000.csv"
    interval = day_interval(DAY)

    r2p_s = best_of(lambda: ingest_source(cfg, "activity", interval, "bench"), repeat)

    def peer() -> None:
        table = pacsv.read_csv(str(landing_file))
        pq.write_table(table, str(workdir / "peer.parquet"), compression="zstd")

    peer_s = best_of(peer, repeat)
    from r2p.ingest.stage import read_offline

    frame = read_offline(cfg, "activity", DAY).to_pandas()
    ctx = _context(workdir / "docs")
    t0 = time.perf_counter()
    _run_suite(ctx, cfg, "activity", frame, "bench")
    gx_s = time.perf_counter() - t0
    return {
        "rows": len(df),
        "landing_bytes": landing_file.stat().st_size,
        "r2p_ingest_s": round(r2p_s, 3),
        "pyarrow_read_write_s": round(peer_s, 3),
        "ratio_r2p_over_pyarrow": round(r2p_s / peer_s, 2),
        "r2p_ingest_rows_per_s": round(len(df) / r2p_s),
        "gx_suite_s": round(gx_s, 3),
        "gx_rows_per_s": round(len(df) / gx_s),
    }


def main() -> int:
    from _common import quiet

    quiet()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
        os.environ["R2P_HOME"] = tmp
        results = [bench(n, args.repeat, Path(tmp)) for n in args.rows]
    print(
        json.dumps(
            {"benchmark": "ingest_vs_pyarrow", "cpu_count": os.cpu_count(), "results": results},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
