"""Runs at a glance: the newest runs of a pipeline with per-stage wall time, CPU time and peak
memory, read from the run manifests (the stage records under ``runs/<pipeline>/``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from r2p import storage


def recent_runs(pipeline: str, last: int = 10) -> list[dict[str, Any]]:
    """The ``last`` runs that recorded a stage, newest first, with their stage records."""
    base = storage.root() / "runs" / pipeline
    if not base.exists():
        return []
    runs = []
    for folder in base.iterdir():
        stages_dir = folder / "stages"
        if not stages_dir.exists():
            continue
        records = [storage.read_json(p) for p in stages_dir.iterdir() if p.name.endswith(".json")]
        if not records:
            continue
        records.sort(key=lambda r: r["started_at"])
        start = dt.datetime.fromisoformat(records[0]["started_at"])
        end = max(dt.datetime.fromisoformat(r["ended_at"]) for r in records)
        runs.append(
            {
                "run_id": records[0]["run_id"],
                "started_at": records[0]["started_at"],
                "status": "failed" if any(r["status"] != "success" for r in records) else "success",
                "span_seconds": (end - start).total_seconds(),
                "stage_seconds": sum(r["wall_seconds"] for r in records),
                "stages": [
                    {
                        "stage": r["stage"],
                        "status": r["status"],
                        "wall_seconds": r["wall_seconds"],
                        "cpu_seconds": r["cpu_seconds"],
                        "peak_rss_mb": round(r["peak_rss_bytes"] / 2**20, 1),
                        "error": (r.get("error") or {}).get("type"),
                    }
                    for r in records
                ],
            }
        )
    runs.sort(key=lambda r: r["started_at"], reverse=True)
    return runs[:last]


def table(runs: list[dict[str, Any]]) -> str:
    """A plain-text table: one line per run, one indented line per stage."""
    if not runs:
        return "no runs recorded"
    lines = []
    for run in runs:
        lines.append(
            f"{run['started_at'][:19]}  {run['status']:<7}  {run['run_id']}  "
            f"span {run['span_seconds']:.1f}s, stages {run['stage_seconds']:.1f}s"
        )
        for s in run["stages"]:
            err = f"  {s['error']}" if s["error"] else ""
            lines.append(
                f"    {s['stage']:<22} {s['status']:<7} wall {s['wall_seconds']:>8.2f}s  "
                f"cpu {s['cpu_seconds']:>8.2f}s  peak {s['peak_rss_mb']:>8.1f} MB{err}"
            )
    return "\n".join(lines)
