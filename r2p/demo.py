"""``make demo``: the main job on the embedded default, in the home under ``R2P_HOME``.

Today it writes a few days of sample data for every pipeline into the landing zone through
the stage runner and prints what it wrote; later issues extend it to the whole pipeline.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from r2p import storage
from r2p.config import load_all, load_pipeline
from r2p.home import home, landing_uri
from r2p.runner import RunInfo, manifest, run_log_path, run_stage, stage_record_path
from r2p.sample.landing import PartitionSummary, generate_days


def _summary(cfg_name: str, written: list[PartitionSummary]) -> list[str]:
    by_source: dict[str, list[PartitionSummary]] = defaultdict(list)
    for s in written:
        by_source[s.source].append(s)
    lines = [f"  {'source':<16} {'days':>4} {'rows':>9}  contract files"]
    for source, parts in by_source.items():
        contracts = sorted({p.contract or "NONE" for p in parts})
        lines.append(
            f"  {source:<16} {len(parts):>4} {sum(p.rows for p in parts):>9}  "
            f"{', '.join(contracts)} ({len(parts)} partitions)"
        )
    return lines


def run_demo(days: int = 4, end: dt.date | None = None, pipelines: list[str] | None = None) -> int:
    """Generate ``days`` days ending ``end`` (default yesterday, UTC) for each pipeline."""
    end = end or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    cfgs = [load_pipeline(p) for p in pipelines] if pipelines else load_all()
    print(f"r2p demo: home {home()}")
    print(f"          landing zone {landing_uri()}")
    print(f"          days {start} .. {end}\n")
    for cfg in cfgs:
        run = RunInfo(cfg.pipeline, f"demo__{end.isoformat()}")
        written = run_stage(run, "sample", generate_days, cfg, start, days)
        record = manifest(run)["stages"]["sample"]
        print(f"{cfg.pipeline}: {cfg.description}")
        print("\n".join(_summary(cfg.pipeline, written)))
        print(
            f"  took {record['wall_seconds']:.2f}s wall, {record['cpu_seconds']:.2f}s cpu, "
            f"peak rss {record['peak_rss_bytes'] / 2**20:.0f} MiB"
        )
        print(f"  run record {storage.uri_of(stage_record_path(run, 'sample'))}")
        print(f"  run log    {run_log_path(run)}\n")
    return 0
