"""``r2p ready``: every item ok on the embedded default; each broken item fails, named, within
its bound; ``--notify`` pages on-call once per problem and resolves it when it passes."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from r2p import readiness
from r2p.home import airflow_env
from r2p.orchestration.dagtest import ensure_db
from tests.alerts import conftest as alert_fixtures
from tests.alerts.conftest import text_of

pytestmark = pytest.mark.timeout(600)
routes = alert_fixtures.routes  # the Jandi stand-in with one connection per route


@pytest.fixture(scope="module", autouse=True)
def migrated() -> None:
    """The test session's Airflow home, migrated once (``airflow db migrate``)."""
    ensure_db(airflow_env())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung dependency)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield server.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    server.close()


def _one(item: str, timeout: float | None = None) -> readiness.Result:
    (result,) = readiness.run_checks([item], timeout)
    return result


def test_everything_is_ready_on_the_embedded_default(home, cli) -> None:
    done = cli("ready")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert [ln.split()[:2] for ln in lines[:-1]] == [["ok", item] for item in readiness.CHECKS]
    assert lines[-1] == "ready"
    assert "no scheduler has run on this database" in done.stdout
    assert "no import errors" in done.stdout and "writable" in done.stdout


def test_a_broken_dag_file_is_named_with_its_line(home, tmp_path, monkeypatch) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "fine.py").write_text("from airflow.sdk import DAG\n\nDAG(dag_id='fine')\n")
    (dags / "broken.py").write_text("from airflow.sdk import DAG\n\nDAG(dag_id=undefined_name)\n")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    r = _one("dag_imports")
    assert not r.ok
    assert r.problems == [("dags/broken.py:3", r.problems[0][1])]
    assert r.detail.startswith("dags/broken.py:3: NameError: name 'undefined_name'"), r.detail


def test_an_unreachable_database_fails_database_and_scheduler(home, monkeypatch) -> None:
    url = f"postgresql://r2p:secret@127.0.0.1:{_closed_port()}/airflow"
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url)
    db, sched = readiness.run_checks(["database", "scheduler"])
    assert not db.ok and not sched.ok
    assert "OperationalError" in db.detail and "127.0.0.1" in db.detail
    assert "secret" not in db.detail and "***" in db.detail


def test_an_unwritable_storage_root_fails_storage(home, tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("R2P_STORAGE", f"file://{blocker}/storage")
    r = _one("storage")
    assert not r.ok and r.detail.startswith(("FileExistsError", "NotADirectoryError")), r.detail


def test_a_broken_mlflow_store_fails_mlflow(home, tmp_path, monkeypatch) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a SQLite file" * 100)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    r = _one("mlflow")
    assert not r.ok and "file is not a database" in r.detail, r.detail


def test_a_hung_dependency_fails_within_its_bound(home, silent_port, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{silent_port}")
    started = time.monotonic()
    r = _one("mlflow", timeout=2)
    assert time.monotonic() - started < 4
    assert not r.ok and ("ReadTimeout" in r.detail or "no answer within 2 s" in r.detail), r.detail


def test_the_cli_exits_non_zero_naming_the_failing_items(home, tmp_path, cli) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    env = {"R2P_STORAGE": f"file://{blocker}/storage",
           "MLFLOW_TRACKING_URI": f"sqlite:///{blocker}"}  # fmt: skip
    done = cli("ready", "--item", "storage", "--item", "mlflow", "--item", "configs", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout.splitlines()
    assert out[0].startswith("FAIL  storage") and out[1].startswith("FAIL  mlflow")
    assert out[2].startswith("ok    configs") and out[-1] == "not ready: storage, mlflow"
    as_json = cli("ready", "--item", "storage", "--json", env=env)
    import json

    doc = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and doc["ready"] is False and doc["failing"] == ["storage"]


def test_notify_pages_once_per_problem_then_resolves(home, routes, tmp_path, monkeypatch) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    broken = dags / "broken.py"
    broken.write_text("from airflow.sdk import DAG\n\nDAG(dag_id=undefined_name)\n")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    first = readiness.notify(readiness.run_checks(["dag_imports", "storage"]))
    assert list(first.values()) == ["sent"]
    (msg,) = routes.inbox("on_call")
    assert msg["body"].startswith("[r2p] DAG import error: dags/broken.py:3: NameError")
    assert "docs/runbook.md#import-error" in text_of(msg) and routes.others("on_call") == []
    again = readiness.notify(readiness.run_checks(["dag_imports", "storage"]))
    assert list(again.values()) == ["suppressed"] and len(routes.inbox("on_call")) == 1
    broken.write_text("from airflow.sdk import DAG\n\nDAG(dag_id='fixed', schedule=None)\n")
    fixed = readiness.notify(readiness.run_checks(["dag_imports", "storage"]))
    assert list(fixed.values()) == ["resolved"]
    assert routes.inbox("on_call")[-1]["body"].startswith("[r2p] resolved: dag_imports: dags/")


def test_notify_with_a_broken_storage_root_still_pages_once(home, routes, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("R2P_STORAGE", f"file://{blocker}/storage")
    for expected in ("sent", "suppressed"):  # the local state stands in for the storage root
        assert list(readiness.notify(readiness.run_checks(["storage"])).values()) == [expected]
    (msg,) = routes.inbox("on_call")
    assert msg["body"].startswith("[r2p] Stack not ready: storage: ")
    assert "docs/runbook.md#readiness" in text_of(msg)
    monkeypatch.delenv("R2P_STORAGE")
    assert list(readiness.notify(readiness.run_checks(["storage"])).values()) == ["resolved"]
    assert routes.inbox("on_call")[-1]["body"].startswith("[r2p] resolved: storage")
    assert Path(home / "alerts-local" / "r2p_readiness.json").read_text().strip() == "{}"


def test_a_stale_scheduler_heartbeat_fails_the_scheduler(home, tmp_path, monkeypatch) -> None:
    import datetime as dt
    import shutil
    import sqlite3

    db = tmp_path / "airflow.db"
    shutil.copy(Path(airflow_env()["AIRFLOW_HOME"]) / "airflow.db", db)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{db}")

    def beat(seconds_ago: float) -> None:
        at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM job")
            conn.execute(
                "INSERT INTO job (job_type, state, latest_heartbeat, hostname) "
                "VALUES ('SchedulerJob', 'running', ?, 'sched-1')",
                (at.strftime("%Y-%m-%d %H:%M:%S.%f"),),
            )

    beat(600)
    r = _one("scheduler")
    assert not r.ok and r.detail.startswith("last heartbeat 6") and "down" in r.detail, r.detail
    beat(0)
    assert _one("scheduler").ok


def test_a_broken_config_is_named_once_and_the_others_load(home, tmp_path, monkeypatch) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    repo = Path(__file__).resolve().parents[1]
    (configs / "churn.yaml").write_text((repo / "configs" / "churn.yaml").read_text())
    (configs / "fleet.yaml").write_text(
        re.sub(r"epochs: \d+", "epochs: -3", (repo / "configs" / "fleet.yaml").read_text(), count=1)
    )
    monkeypatch.setenv("R2P_CONFIGS", str(configs))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(repo / "dags"))
    by_item = {r.item: r for r in readiness.run_checks(["configs", "dag_imports"])}
    cfg = by_item["configs"]
    assert not cfg.ok and [key for key, _ in cfg.problems] == ["config:configs/fleet.yaml"]
    assert "configs/fleet.yaml:" in cfg.problems[0][1] and "models[0].epochs" in cfg.detail
    assert "1 other pipeline(s) load: churn" in cfg.detail
    imports = by_item["dag_imports"]  # the same config, not a second time
    assert imports.ok and imports.problems == [], imports.detail
    (alone,) = readiness.run_checks(["dag_imports"])  # `--item dag_imports` alone: named there
    assert not alone.ok and "r2p_config_errors.py" in alone.detail
    assert "fleet.yaml" in alone.detail and "models[0].epochs" in alone.detail
