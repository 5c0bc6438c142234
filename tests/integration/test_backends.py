"""Production backends on this machine's services: Feast's SQL registry on PostgreSQL with the
Redis online store, and MLflow tracking and registry on PostgreSQL (DESIGN §7).

Each test creates a PostgreSQL database of its own (dropped at the end) and uses a Redis key
prefix of its own (deleted at the end), so runs never see each other's state.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import require
from tests.features.conftest import use_redis

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
D1 = dt.date(2026, 11, 16)


def _admin():
    import psycopg

    return psycopg.connect(ADMIN, autocommit=True, connect_timeout=5)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database; its URL (dropped afterwards)."""
    import psycopg

    name = f"r2p_test_{uuid.uuid4().hex[:12]}"
    try:
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        require("PostgreSQL", False, str(exc))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_prefix(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The Redis online store under a key prefix of this test's own."""
    yield from use_redis(monkeypatch)


def _tables(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}


def test_feast_on_sql_registry_and_redis(churn, home, pg_database, redis_prefix, monkeypatch):
    """Apply, materialise and read online with nothing of Feast's left in the home."""
    import psycopg

    from r2p.features.store import feature_store
    from r2p.ingest.offline import read_offline
    from tests.features.conftest import redis_client
    from tests.features.helpers import load_days, online

    monkeypatch.setenv("R2P_FEAST_REGISTRY", pg_database)
    load_days(churn, D1, 2, entities=20)
    store = feature_store()
    assert store.config.registry.registry_type == "sql"
    assert {fs.name for fs in store.list_feature_services()} >= {"churn_mlp_v1"}
    profile = read_offline(churn, "profile", D1 + dt.timedelta(days=1)).to_pandas()
    expected = profile.set_index("customer_id").loc[3, "age"]
    assert online(store, churn, [3])["age"] == [expected]
    with psycopg.connect(pg_database, connect_timeout=5) as conn:
        views = {r[0] for r in conn.execute("SELECT feature_view_name FROM feature_views")}
    assert {"churn_profile", "churn_activity"} <= views
    assert any(redis_client().scan_iter(match=f"{redis_prefix}*"))
    assert not (home / "feast" / "registry.db").exists()
    assert not (home / "feast" / "online.db").exists()


def test_feast_cli_on_the_resolved_backends(churn, pg_database, redis_prefix, monkeypatch):
    """``python -m r2p.features`` runs Feast's CLI on the same SQL registry."""
    import subprocess
    import sys

    from r2p.features.store import feature_store
    from tests.features.helpers import load_days

    monkeypatch.setenv("R2P_FEAST_REGISTRY", pg_database)
    load_days(churn, D1, 1, entities=20)
    listed = subprocess.run(
        [sys.executable, "-m", "r2p.features", "feature-views", "list"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr
    assert "churn_profile" in listed.stdout
    assert feature_store().get_feature_view("churn_profile").name == "churn_profile"


def test_mlflow_tracking_and_registry_on_postgres(churn, home, pg_database, monkeypatch):
    """A run is logged and reused, a version registered and aliased, all in PostgreSQL."""
    from r2p import storage
    from r2p.promotion.registry import CHAMPION, aliases, register, set_alias
    from r2p.training.tracking import log_run, tracking_uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", pg_database)
    assert "connect_timeout=" in tracking_uri() and "statement_timeout" in tracking_uri()
    run = dict(params={"lr": 0.1}, tags={"model": "mlp"}, histories={}, metrics={"auc": 0.8})
    run_id = log_run("churn", "key-1", **run, artifacts={"note.txt": "hello"})
    assert log_run("churn", "key-1", **run, artifacts={}) == run_id  # reused, not re-created

    export = storage.root() / "exports" / "e1"
    export.mkdir(parents=True, exist_ok=True)
    (export / "model.pb").write_bytes(b"pb")
    (storage.root() / "manifest.json").write_text("{}")
    ref = {
        "pipeline": "churn",
        "model": "mlp",
        "export_key": "export-1",
        "export_uri": storage.uri_of(export),
        "manifest_uri": storage.uri_of(storage.root() / "manifest.json"),
        "mlflow_run_id": run_id,
        "pb_sha256": "0" * 64,
        "dataset_hash": "d" * 64,
        "data_end": "2026-11-17",
    }
    version = register(ref)
    assert register(ref) == version  # idempotent by export key
    set_alias("churn", CHAMPION, version)
    assert aliases("churn") == {CHAMPION: version}
    assert {"runs", "model_versions", "registered_model_aliases"} <= _tables(pg_database)
    assert (home / "mlflow" / "artifacts").is_dir()  # never ./mlruns
    assert not (home / "mlflow" / "mlflow.db").exists()


def test_registry_writers_on_any_machine_share_one_lock(pg_database, monkeypatch) -> None:
    """The SQL registry's lock is PostgreSQL's: a second writer waits, then gets it."""
    import threading

    from r2p.features.repo_config import registry_lock

    monkeypatch.setenv("R2P_FEAST_REGISTRY", pg_database)
    held, release, outcome = threading.Event(), threading.Event(), {}

    def holder() -> None:
        with registry_lock():
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(30)
    with (
        pytest.raises(TimeoutError, match="still held by another writer"),
        registry_lock(wait_seconds=0.5),
    ):
        outcome["entered"] = True
    release.set()
    thread.join(30)
    with registry_lock(wait_seconds=5):
        outcome["after"] = True
    assert outcome == {"after": True}
