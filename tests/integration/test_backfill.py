"""A real ``airflow backfill create`` over three days already loaded, on the real scheduler:
dry run first; store contents identical afterwards; one training run at most, and it does not
move ``champion`` (its data came from a backfill)."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.integration.stack_helpers import (
    Stack,
    asset_triggered_runs,
    log_tail,
    run_seconds,
    running_stack,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# The three newest complete intervals: the scheduler's own next run (yesterday) is one of the
# backfill's runs, so unpausing the DAG creates no scheduled run besides them.
TODAY = dt.datetime.now(dt.UTC).date()
DAYS = [TODAY - dt.timedelta(days=n) for n in (3, 2, 1)]
HISTORY = 9
ENTITIES = 80
BEFORE: dict[str, object] = {}


def _snapshot() -> dict[str, object]:
    """Committed partitions (pointers) and online values of the loaded days."""
    from r2p import storage
    from r2p.config import load_pipeline
    from r2p.features.store import feature_store
    from tests.features.helpers import online

    cfg = load_pipeline("churn")
    pointers = {
        f"{s}/{d}": storage.pointer(f"offline/{cfg.dataset.name}/{s}/ds={d}")
        for s in cfg.source_names
        for d in DAYS
    }
    return {
        "pointers": pointers,
        "online": online(feature_store(), cfg, list(range(1, ENTITIES + 1))),
    }


def _prepare() -> None:
    """History (offline) and the three days loaded through the same stage functions the
    tasks run (offline + Feast), before any Airflow run exists."""
    from r2p.config import load_pipeline
    from tests.features.helpers import load_days

    cfg = load_pipeline("churn")
    load_days(cfg, DAYS[0] - dt.timedelta(days=HISTORY), HISTORY, ENTITIES, materialize=False)
    load_days(cfg, DAYS[0], len(DAYS), ENTITIES, materialize=True)
    BEFORE.update(_snapshot())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("backfill"), prepare=_prepare) as s:
        yield s


def _backfill(*args: str) -> str:
    """``airflow backfill create --dag-id churn_data`` over DAYS with the stack's settings."""
    from r2p.stack import recorded_config
    from r2p.stack.config import airflow_bin, stack_env

    cmd = [airflow_bin(), "backfill", "create", "--dag-id", "churn_data"]
    cmd += ["--from-date", DAYS[0].isoformat(), "--to-date", DAYS[-1].isoformat(), *args]
    done = subprocess.run(
        cmd, env=stack_env(recorded_config()), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def _dry_run_dates(output: str) -> list[str]:
    """The logical dates in a dry run's table of "Runs to be attempted"."""
    table = output.split("Runs to be attempted", 1)[-1]
    return sorted(set(re.findall(r"\|\s*(\d{4}-\d{2}-\d{2}) \d{2}:\d{2}:\d{2}", table)))


@pytest.mark.timeout(1200)
def test_backfill_of_loaded_days_changes_nothing_and_never_promotes(stack: Stack) -> None:
    from r2p.promotion import record
    from r2p.runner import RunInfo, manifest

    api = stack.api
    api.wait_dag("churn_data", 180)
    api.wait_dag("churn_training", 60)
    api.unpause("churn_training")
    dry = _backfill("--dry-run", "--reprocess-behavior", "completed")
    assert _dry_run_dates(dry) == [d.isoformat() for d in DAYS], dry[-2000:]
    assert api.runs("churn_data") == []  # a dry run creates nothing

    started = time.monotonic()
    _backfill("--reprocess-behavior", "completed", "--max-active-runs", "2")
    api.unpause("churn_data")  # backfill runs are scheduled only for an unpaused DAG

    def finished() -> list[dict] | None:
        runs = api.runs("churn_data", run_type="backfill")
        done = len(runs) == 3 and all(r["state"] in ("success", "failed") for r in runs)
        return runs if done else None

    runs = wait_for(finished, 600, "three finished backfill runs", every=2.0)
    failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    assert not failed, log_tail(stack.home, "churn_data", failed[0])
    assert [r["run_type"] for r in api.runs("churn_data")] == ["backfill"] * 3  # nothing else
    assert sorted(r["logical_date"][:10] for r in runs) == [d.isoformat() for d in DAYS]
    wall = time.monotonic() - started
    print(f"\nbackfill of 3 days: {wall:.0f} s; runs {[round(run_seconds(r)) for r in runs]} s")

    # the features event: once, from the newest day (the older runs each had a newer run)
    events = api.call("GET", "/assets/events?source_dag_id=churn_data&limit=50")["asset_events"]
    assert [e["extra"]["interval"]["ds"] for e in events] == [DAYS[-1].isoformat()]
    assert events[0]["extra"]["run_type"] == "backfill"

    train = wait_for(lambda: asset_triggered_runs(api, "churn_training"), 120, "training run")[0]
    done = api.wait_run("churn_training", train["dag_run_id"], 600)
    assert done["state"] == "success", log_tail(stack.home, "churn_training", train["dag_run_id"])
    print(f"training run fed by the backfill: {run_seconds(done):.0f} s")
    time.sleep(5)
    assert len(api.runs("churn_training")) == 1  # a backfill of 3 days: one training run
    stages = manifest(RunInfo("churn", train["dag_run_id"]))["stages"]
    trigger = stages["retrain"]["outputs"]["trigger"]
    assert trigger["run_type"] == "asset_triggered" and trigger["source_run_types"] == ["backfill"]
    assert trigger["from_backfill"] is True and trigger["promotable"] is False
    assert api.task_states("churn_training", train["dag_run_id"])["promote"] == "skipped"
    assert stages["evaluate"]["outputs"]["verdict"] != "promote"
    assert record.read("churn").champion is None  # champion did not move

    after = _snapshot()
    assert after["pointers"] == BEFORE["pointers"] and all(BEFORE["pointers"].values())
    assert after["online"] == BEFORE["online"]

    # reprocess behaviour, shown by dry runs against the completed runs
    assert _dry_run_dates(_backfill("--dry-run", "--reprocess-behavior", "none")) == []
    again = _backfill("--dry-run", "--reprocess-behavior", "completed")
    assert _dry_run_dates(again) == [d.isoformat() for d in DAYS]
    print(json.dumps({"backfill_seconds": round(wall, 1)}))
