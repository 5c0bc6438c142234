"""The stage runner records timings, memory, code version and lock hash; logs carry the run id."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from r2p import storage
from r2p.home import lock_file
from r2p.runner import RunInfo, manifest, run_log_path, run_stage, stage_record_path
from r2p.versioning import code_version, lock_hash

RUN = RunInfo("churn", "manual__2026-11-24T00:00:00+00:00")
log = logging.getLogger("r2p.test_stage")


def _busy(mib: int) -> dict[str, int]:
    log.info("allocating %d MiB", mib)
    block = np.ones(mib * 2**20 // 8)  # touched pages count towards RSS
    total = 0
    for _ in range(3):
        total += int(block.sum())
    log.warning("done")
    return {"total": total}


def test_records_wall_cpu_peak_memory_and_versions(storage_root: str) -> None:
    out = run_stage(RUN, "busy", _busy, 120)
    assert out == {"total": 3 * 120 * 2**20 // 8}
    rec = storage.read_json(stage_record_path(RUN, "busy"))
    assert rec["status"] == "success" and rec["outputs"] == out
    assert rec["wall_seconds"] > 0 and rec["cpu_seconds"] > 0
    assert rec["peak_rss_bytes"] - rec["start_rss_bytes"] >= 100 * 2**20
    assert rec["code_version"] == code_version() and rec["code_version"].startswith("src-")
    assert rec["lock_hash"] == hashlib.sha256(lock_file().read_bytes()).hexdigest() == lock_hash()
    assert rec["run_id"] == RUN.run_id and rec["pipeline"] == "churn"


def test_every_log_line_carries_the_run_id(home: Path) -> None:
    run_stage(RUN, "busy", _busy, 1)
    run_stage(RUN, "again", _busy, 1)
    lines = Path(run_log_path(RUN)).read_text().splitlines()
    assert len(lines) >= 8
    assert all(f"run={RUN.run_id} " in line for line in lines)
    assert any(re.search(r"stage=again r2p.test_stage: allocating 1 MiB", ln) for ln in lines)
    assert str(run_log_path(RUN)).startswith(str(home / "logs" / "runs" / "churn"))


def test_failed_stage_is_recorded_and_reraised(home: Path) -> None:
    def broken() -> None:
        raise ValueError("bad partition ds=2026-11-24")

    with pytest.raises(ValueError, match="bad partition"):
        run_stage(RUN, "ingest", broken)
    rec = manifest(RUN)["stages"]["ingest"]
    assert rec["status"] == "failed"
    assert rec["error"]["type"] == "ValueError" and "bad partition" in rec["error"]["message"]
    assert "broken" in rec["error"]["traceback"]
    assert "stage=ingest" in Path(run_log_path(RUN)).read_text()


def test_rerun_replaces_the_stage_record_and_manifest_collects_stages(home: Path) -> None:
    with pytest.raises(RuntimeError):
        run_stage(RUN, "a", lambda: (_ for _ in ()).throw(RuntimeError("flaky")))
    run_stage(RUN, "a", lambda: {"ok": 1})
    run_stage(RUN, "b", lambda: None)
    man = manifest(RUN)
    assert list(man["stages"]) == ["a", "b"]
    assert man["stages"]["a"]["status"] == "success" and man["stages"]["a"]["outputs"] == {"ok": 1}
    assert man["code_version"] == code_version() and man["lock_hash"] == lock_hash()


def test_outputs_that_are_not_json_are_kept_as_repr(home: Path) -> None:
    run_stage(RUN, "odd", lambda: object())
    assert manifest(RUN)["stages"]["odd"]["outputs"].startswith("<object object")


def test_unsafe_run_ids_make_safe_file_names(home: Path) -> None:
    run = RunInfo("churn", "scheduled__2026-11-24T00:00:00+00:00/../x")
    run_stage(run, "s", lambda: 1)
    log_path = Path(run_log_path(run))
    assert log_path.parent == home / "logs" / "runs" / "churn" and log_path.exists()
    assert "/" not in run.safe_id


def test_runs_at_a_glance_lists_newest_first_with_stage_figures(home: Path, capsys) -> None:
    import time

    from r2p.cli import main
    from r2p.runs_overview import recent_runs

    run_stage(RunInfo("churn", "scheduled__1"), "ingest_profile", lambda: {"rows": 3})
    time.sleep(0.01)
    run_stage(RunInfo("churn", "scheduled__2"), "ingest_profile", lambda: sum(range(10**6)))
    with pytest.raises(ValueError):
        run_stage(RunInfo("churn", "scheduled__2"), "validate", _boom)
    runs = recent_runs("churn")
    assert [r["run_id"] for r in runs] == ["scheduled__2", "scheduled__1"]
    assert runs[0]["status"] == "failed" and runs[1]["status"] == "success"
    stages = {s["stage"]: s for s in runs[0]["stages"]}
    assert (
        stages["validate"]["error"] == "ValueError" and stages["ingest_profile"]["cpu_seconds"] > 0
    )
    assert stages["ingest_profile"]["peak_rss_mb"] > 10
    assert main(["runs", "list", "churn", "--last", "1"]) == 0
    out = capsys.readouterr().out
    assert "scheduled__2" in out and "scheduled__1" not in out and "peak" in out and "MB" in out
    assert main(["runs", "list", "fleet"]) == 0 and "no runs recorded" in capsys.readouterr().out


def _boom() -> None:
    raise ValueError("boom")
