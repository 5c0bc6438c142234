"""The production-shaped stack for real: Airflow's api-server, scheduler, dag-processor and
triggerer on PostgreSQL (LocalExecutor), Feast's online store on Redis, the model server;
both DAGs through the REST API; a killed scheduler and model server come back; ``down``
leaves no process behind. One stack for the module (its own database and Redis prefix)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.integration.stack_helpers import (
    Stack,
    assert_online_equals_partition,
    asset_triggered_runs,
    log_tail,
    processes_of,
    run_seconds,
    running_stack,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# Yesterday: the newest complete interval, so the manual run (logical date = interval start)
# is the one the scheduler would create on unpause, and it creates no second run.
DAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
HISTORY = 9  # days before DAY already in the offline store (the training window)
FIGURES: dict[str, float] = {}


def _prepare() -> None:
    """History through the real stage functions (offline only), then DAY's landing files."""
    from r2p.config import load_pipeline
    from r2p.sample.landing import generate_days
    from tests.features.helpers import load_days

    cfg = load_pipeline("churn")
    load_days(cfg, DAY - dt.timedelta(days=HISTORY), HISTORY, entities=80, materialize=False)
    generate_days(cfg, DAY, 1, entities=80)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack"), model="churn", prepare=_prepare) as s:
        FIGURES["stack_up_seconds"] = s.timings["wall_seconds"]
        yield s
    print(f"\nstack figures: {json.dumps(FIGURES)}")


def _http(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.timeout(900)
def test_data_then_training_dag_through_the_rest_api(stack: Stack) -> None:
    from r2p import storage
    from r2p.config import load_pipeline
    from r2p.promotion import record
    from r2p.runner import RunInfo, manifest

    api, cfg = stack.api, load_pipeline("churn")
    assert api.wait_dag("churn_data", 180)["is_paused"] is True  # paused at creation
    api.wait_dag("churn_training", 60)
    api.unpause("churn_training")
    run_id = api.trigger_partition("churn_data", DAY)
    api.unpause("churn_data")
    run = api.wait_run("churn_data", run_id, 420)
    assert run["state"] == "success", log_tail(stack.home, "churn_data", run_id)
    FIGURES["data_run_seconds"] = run_seconds(run)
    assert run["data_interval_start"].startswith(DAY.isoformat())
    assert set(api.task_states("churn_data", run_id).values()) == {"success"}

    stages = manifest(RunInfo("churn", run_id))["stages"]
    assert set(stages) == {f"ingest_{s}" for s in cfg.source_names} | {"validate", "materialize"}
    assert stages["ingest_profile"]["outputs"]["rows_accepted"] == 80
    for source in cfg.source_names:  # every source's partition is committed
        assert storage.pointer(f"offline/{cfg.dataset.name}/{source}/ds={DAY}")
    assert storage.pointer(f"validation/{cfg.dataset.name}/ds={DAY}")["success"] is True
    assert stages["materialize"]["outputs"]["interval"]["ds"] == DAY.isoformat()

    # online values (Feast on Redis, written by the materialize task) equal the partition
    assert_online_equals_partition(cfg, DAY)

    # the features event triggered the training DAG
    def training_run() -> dict | None:
        runs = asset_triggered_runs(api, "churn_training")
        return runs[0] if runs else None

    train = wait_for(training_run, 120, "an asset-triggered churn_training run")
    done = api.wait_run("churn_training", train["dag_run_id"], 600)
    assert done["state"] == "success", log_tail(stack.home, "churn_training", train["dag_run_id"])
    FIGURES["training_run_seconds"] = run_seconds(done)
    _check_training(stack, train["dag_run_id"], manifest(RunInfo("churn", train["dag_run_id"])))
    assert len(asset_triggered_runs(api, "churn_training")) == 1
    champion = record.read("churn").champion
    verdict = manifest(RunInfo("churn", train["dag_run_id"]))["stages"]["evaluate"]["outputs"]
    assert (champion is not None) == (verdict["verdict"] == "promote")


def _check_training(stack: Stack, run_id: str, run_manifest: dict) -> None:
    from r2p import storage

    stages = run_manifest["stages"]
    states = stack.api.task_states("churn_training", run_id)
    verdict = stages["evaluate"]["outputs"]["verdict"]
    assert verdict in ("promote", "reject", "not_evaluated"), stages["evaluate"]["outputs"]
    expected_promote = "success" if verdict == "promote" else "skipped"
    assert states.pop("promote") == expected_promote and set(states.values()) == {"success"}
    trigger = stages["retrain"]["outputs"]["trigger"]
    assert trigger["run_type"] == "asset_triggered" and trigger["source_run_types"] == ["manual"]
    assert trigger["cutoff"] == (DAY + dt.timedelta(days=1)).isoformat()
    assert trigger["promotable"] is True
    assert stages["training_set"]["outputs"]["manifest"]["splits"]["train"]["rows"] > 0
    assert stages["infra_validate"]["outputs"]["max_abs_diff"] <= 1e-5
    assert stages["parity"]["outputs"]["passed"] is True
    export = stages["export"]["outputs"]
    pb = storage.path(export["pb_uri"])
    assert pb.exists() and pb.stat().st_size == export["pb_bytes"] > 0
    assert storage.path(stages["evaluate"]["outputs"]["decision_uri"]).exists()


@pytest.mark.timeout(300)
def test_a_killed_scheduler_is_restarted_by_the_supervisor(stack: Stack) -> None:
    from r2p.stack.api import health, healthy

    before = stack.status()["programs"]["scheduler"]
    import psutil

    workers = psutil.Process(before["pid"]).children(recursive=True)
    os.kill(before["pid"], signal.SIGKILL)
    killed_at = time.monotonic()

    def restarted() -> dict | None:
        now = stack.status()["programs"]["scheduler"]
        return now if now["alive"] and now["pid"] != before["pid"] else None

    after = wait_for(restarted, 60, "a new scheduler process", every=0.2)
    assert after["restarts"] == before["restarts"] + 1 and after["last_exit"] == -9
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    log = (stack.home / "stack" / "supervisor.log").read_text()
    assert f"scheduler pid {before['pid']} exited (signal 9)" in log
    url = stack.api.base_url
    wait_for(lambda: healthy(health(url), ("scheduler",)), 120, "a healthy scheduler")
    FIGURES["scheduler_back_healthy_seconds"] = time.monotonic() - killed_at


@pytest.mark.timeout(300)
def test_a_killed_model_server_comes_back_ready(stack: Stack) -> None:
    from r2p.promotion import record
    from r2p.stack import recorded_config

    port = recorded_config().model_http_port
    champion = record.read("churn").champion
    path = "/readyz" if champion else "/healthz"  # ready needs a champion to serve
    wait_for(lambda: _http(port, path) == 200, 120, f"model server {path} 200")
    before = stack.status()["programs"]["model-server"]
    os.kill(before["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: _http(port, path) == 200, 180, f"model server {path} 200 after kill -9")
    FIGURES["model_server_back_seconds"] = time.monotonic() - killed_at
    after = stack.status()["programs"]["model-server"]
    assert after["pid"] != before["pid"] and after["restarts"] == before["restarts"] + 1


@pytest.mark.timeout(180)
def test_down_stops_everything_and_leaves_no_process(stack: Stack) -> None:
    from r2p.stack import down, recorded_config

    report = stack.status()
    pids = [p["pid"] for p in report["programs"].values()]
    assert report["supervisor"] and all(p["alive"] for p in report["programs"].values())
    assert len(processes_of(stack.home)) >= len(pids)  # programs and their workers
    started = time.monotonic()
    assert down() == []  # the supervisor stopped them all itself
    FIGURES["down_seconds"] = time.monotonic() - started
    assert processes_of(stack.home) == []
    assert _http(recorded_config().api_port, "/api/v2/monitor/health") == 0  # nothing listens
    assert stack.status()["supervisor"] is None
    assert not list((stack.home / "stack").glob("*.pid"))
