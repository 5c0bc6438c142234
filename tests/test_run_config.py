"""One config per run: a run resolves its config once; a YAML edit during it affects the next
run only, and the snapshot's hash is in the run's records, the export and the MLflow run."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import threading
from pathlib import Path

import pytest

from r2p import storage
from r2p.config import resolved_json
from r2p.home import REPO_ROOT
from r2p.orchestration import tasks
from r2p.run_config import config_for_run, config_hash, for_run, snapshot, snapshot_path
from r2p.runner import RunInfo, manifest, stage_record_path

RUN = "manual__2026-11-24T00:00:00+00:00"


@pytest.fixture
def configs(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the shipped configs, to edit."""
    folder = tmp_path / "configs"
    shutil.copytree(REPO_ROOT / "configs", folder)
    monkeypatch.setenv("R2P_CONFIGS", str(folder))
    return folder


def _edit_window(configs: Path, days: int) -> None:
    path = configs / "churn.yaml"
    text = path.read_text()
    assert "  window_days: 28\n" in text
    tmp = path.with_suffix(".tmp")  # saved whole, as an editor does: no reader sees half a file
    tmp.write_text(text.replace("  window_days: 28\n", f"  window_days: {days}\n"))
    tmp.replace(path)


def _context(run_id: str) -> dict:
    start = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    return {
        "run_id": run_id,
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
    }


def _window(cfg, interval, run_id: str) -> dict:
    return {"window_days": cfg.training.window_days, "run_id": run_id}


def test_an_edit_during_a_run_changes_the_next_run_only(configs: Path) -> None:
    first = tasks._run("churn", "first_task", _context(RUN), _window)
    assert first["window_days"] == 28
    stored = snapshot("churn", RUN)
    assert stored["config_hash"] == hashlib.sha256(stored_json(stored).encode()).hexdigest()

    _edit_window(configs, 14)  # the YAML changes between two tasks of the run
    second = tasks._run("churn", "second_task", _context(RUN), _window)
    assert second["window_days"] == 28, "a later task of the run must see the run's snapshot"
    assert config_for_run("churn", RUN).training.window_days == 28

    nxt = "manual__2026-11-25T00:00:00+00:00"
    assert tasks._run("churn", "first_task", _context(nxt), _window)["window_days"] == 14
    assert snapshot("churn", nxt)["config_hash"] != stored["config_hash"]

    # the hash is in every stage record of the run and in its manifest
    for stage in ("first_task", "second_task"):
        record = storage.read_json(stage_record_path(RunInfo("churn", RUN), stage))
        assert record["config_hash"] == stored["config_hash"]
    m = manifest(RunInfo("churn", RUN))
    assert m["config"]["config_hash"] == stored["config_hash"]
    assert m["config"]["uri"] == storage.uri_of(snapshot_path("churn", RUN))
    assert m["config"]["source"] == str(configs / "churn.yaml")


def test_a_cleared_task_keeps_the_run_config_a_recreated_run_reads_the_yaml(configs) -> None:
    """``run_after`` names the DAG run instance: a task cleared and rerun (same instance) keeps
    the run's snapshot; ``airflow dags test`` of the same date again (a run deleted and created
    under the same id, a new ``run_after``) is a new run and sees the edit."""
    from types import SimpleNamespace

    def context(run_after: dt.datetime) -> dict:
        return {**_context(RUN), "dag_run": SimpleNamespace(run_after=run_after)}

    t0 = dt.datetime(2026, 11, 24, 0, 5, tzinfo=dt.UTC)
    assert tasks._run("churn", "ingest", context(t0), _window)["window_days"] == 28
    _edit_window(configs, 21)
    assert tasks._run("churn", "ingest", context(t0), _window)["window_days"] == 28  # cleared
    t1 = t0 + dt.timedelta(hours=2)
    assert tasks._run("churn", "ingest", context(t1), _window)["window_days"] == 21  # recreated
    assert snapshot("churn", RUN)["config"]["training"]["window_days"] == 21  # the newest
    assert (
        manifest(RunInfo("churn", RUN))["config"]["config_hash"]
        == snapshot("churn", RUN)["config_hash"]
    )


def stored_json(stored: dict) -> str:
    from r2p.config.schema import PipelineConfig

    return resolved_json(PipelineConfig.model_validate(stored["config"]))


def test_snapshot_round_trips_to_the_same_config_and_hash(configs: Path) -> None:
    from r2p.config import load_pipeline

    for name in ("churn", "fleet"):
        snap = for_run(name, RUN)
        assert snap.config == load_pipeline(name)
        assert snap.config_hash == config_hash(load_pipeline(name)) == config_hash(snap.config)


def test_first_writer_wins_when_tasks_start_together(configs: Path) -> None:
    """Parallel first tasks (the ingest tasks of a data run) agree on one snapshot, even
    when the YAML changes while they race."""
    hashes: list[str] = []
    barrier = threading.Barrier(8)

    errors: list[BaseException] = []

    def task(i: int) -> None:
        barrier.wait()
        try:
            if i == 4:
                _edit_window(configs, 7)
            hashes.append(for_run("churn", RUN).config_hash)
        except BaseException as exc:  # a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(hashes) == 8 and len(set(hashes)) == 1
    assert hashes[0] == snapshot("churn", RUN)["config_hash"]
    later = config_for_run("churn", RUN).training.window_days
    assert later == snapshot("churn", RUN)["config"]["training"]["window_days"]


def test_export_contract_carries_the_config_hash(configs: Path, monkeypatch) -> None:
    from r2p.export import export

    cfg = config_for_run("churn", RUN)

    def fake_build(cfg, model_uri, folder, input_names=None):
        (folder / export.PB).write_bytes(b"pb")
        return {"pb_sha256": "0" * 64, "pb_bytes": 2, "model": "mlp"}

    monkeypatch.setattr(export, "build_export", fake_build)
    out = export.export_model(cfg, {"key": "k" * 64, "model": "mlp", "uri": "x"}, RUN)
    assert out["contract"]["config_hash"] == config_hash(cfg) == for_run("churn", RUN).config_hash
    stored = storage.read_json(storage.path(out["uri"]) / export.CONTRACT)
    assert stored["config_hash"] == config_hash(cfg)


def test_mlflow_run_carries_the_config_hash(configs: Path) -> None:
    from r2p.training import tracking

    cfg = config_for_run("churn", RUN)
    run_id = tracking.log_run(
        "churn",
        "key-1",
        params={"p": 1},
        tags={"model": "mlp"},
        histories={},
        metrics={},
        artifacts={"resolved_config.json": resolved_json(cfg)},
    )
    run = tracking.tracking_client().get_run(run_id)
    assert run.data.tags[tracking.CONFIG_TAG] == config_hash(cfg)
