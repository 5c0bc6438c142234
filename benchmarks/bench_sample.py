"""Benchmark the sample generator and the landing writer against raw pyarrow, in one run.

Prints JSON: for each size, rows/s of generating one day (all sources and labels), and the
time of writing one landing partition through r2p (serialise, sha256, ObjectStoragePath,
manifest last) against pyarrow writing the same rows to a local file (the peer), as a ratio.

    .venv/bin/python benchmarks/bench_sample.py [--entities 100000 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _common import best_of

DAY = dt.date(2026, 11, 16)


def bench(pipeline: str, entities: int, repeat: int, workdir: Path) -> dict[str, object]:
    """Figures for one pipeline and size."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from r2p.config import load_pipeline
    from r2p.sample.generator import Generator
    from r2p.sample.landing import write_partition

    cfg = load_pipeline(pipeline)
    gen = Generator.for_config(cfg, entities=entities)
    events = next(s for s in cfg.dataset.sources if s.kind == "events")
    frames: dict[str, object] = {}

    def generate() -> None:
        for src in cfg.dataset.sources:
            frames[src.name] = gen.source(src.name, DAY)
        frames["labels"] = gen.labels_arriving(DAY)

    gen_s = best_of(generate, repeat)
    rows = sum(len(f) for f in frames.values() if f is not None)
    df = frames[events.name]
    peer_path = workdir / "peer"

    def peer() -> None:  # what a user would write by hand: the frame to arrow, to one file
        table = pa.Table.from_pandas(df, preserve_index=False)
        if cfg.landing.format == "csv":
            pacsv.write_csv(table, str(peer_path))
        else:
            pq.write_table(table, str(peer_path))

    r2p_s = best_of(lambda: write_partition(cfg, events.name, DAY, df), repeat)
    peer_s = best_of(peer, repeat)
    return {
        "pipeline": pipeline,
        "entities": entities,
        "rows_per_day": rows,
        "generate_s": round(gen_s, 3),
        "generate_rows_per_s": round(rows / gen_s),
        "landing_source": events.name,
        "landing_rows": len(df),
        "landing_format": cfg.landing.format,
        "r2p_write_partition_s": round(r2p_s, 3),
        "pyarrow_write_s": round(peer_s, 3),
        "ratio_r2p_over_pyarrow": round(r2p_s / peer_s, 2),
    }


def main() -> int:
    from _common import quiet

    quiet()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--pipelines", nargs="+", default=["churn", "fleet"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
        os.environ["R2P_HOME"] = tmp
        results = [
            bench(p, n, args.repeat, Path(tmp)) for n in args.entities for p in args.pipelines
        ]
    summary = {
        "benchmark": "sample_generator_and_landing_write",
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "results": results,
        "median_ratio_r2p_over_pyarrow": statistics.median(
            r["ratio_r2p_over_pyarrow"] for r in results
        ),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
