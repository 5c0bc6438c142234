"""feature_store.yaml is a template: the environment selects the registry and online store."""

from __future__ import annotations

import pytest
from feast.repo_config import load_repo_config

from r2p.features.online_store import MonotonicSqliteOnlineStore
from r2p.features.repo_config import REPO, repo_config, resolved_yaml

REDIS = "redis://127.0.0.1:6379/4?key_prefix=prod:"
POSTGRES = "postgresql://feast@db.internal:5433/feast"


def test_the_embedded_default_is_file_registry_and_sqlite(home) -> None:
    config = repo_config()
    assert config.registry.registry_type == "file"
    assert config.registry.path == f"{home}/feast/registry.db"
    assert config.online_store.type == "r2p.features.online_store.MonotonicSqliteOnlineStore"


def test_the_environment_selects_redis_and_postgresql_with_timeouts(home, monkeypatch) -> None:
    monkeypatch.setenv("R2P_FEAST_ONLINE_STORE", REDIS)
    monkeypatch.setenv("R2P_FEAST_REGISTRY", POSTGRES)
    monkeypatch.setenv("R2P_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv("R2P_READ_TIMEOUT", "9")
    monkeypatch.setenv("R2P_STATEMENT_TIMEOUT", "30")
    config = repo_config()
    store = config.online_store
    assert store.type == "r2p.features.redis_store.MonotonicRedisOnlineStore"
    assert store.connection_string == (
        "127.0.0.1:6379,db=4,socket_connect_timeout=3.0,socket_timeout=9.0"
    )
    assert store.key_prefix == "prod:"
    assert config.registry.registry_type == "sql"
    assert config.registry.path == "postgresql+psycopg://feast@db.internal:5433/feast"
    assert config.registry.sqlalchemy_config_kwargs["connect_args"] == {
        "connect_timeout": 3,
        "options": "-c statement_timeout=30000",
    }


def test_feasts_cli_reads_the_same_resolved_configuration(home, monkeypatch) -> None:
    monkeypatch.setenv("R2P_FEAST_ONLINE_STORE", REDIS)
    monkeypatch.setenv("R2P_FEAST_REGISTRY", POSTGRES)
    loaded = load_repo_config(REPO, resolved_yaml())
    assert loaded.online_store == repo_config().online_store
    assert loaded.registry == repo_config().registry


@pytest.mark.parametrize(
    ("var", "value"),
    [
        pytest.param("R2P_FEAST_ONLINE_STORE", "memcached://h", id="online-store"),
        pytest.param("R2P_FEAST_REGISTRY", "mysql://h/db", id="registry"),
    ],
)
def test_an_unknown_backend_is_refused_by_name(home, monkeypatch, var, value) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=var):
        repo_config()


def test_feasts_bare_cli_cannot_write_sqlite_when_redis_is_selected(home, monkeypatch) -> None:
    """``feast -c feature_repo`` reads the template only; it must not fill the wrong store."""
    template = load_repo_config(REPO, REPO / "feature_store.yaml")
    monkeypatch.setenv("R2P_FEAST_ONLINE_STORE", REDIS)
    with pytest.raises(RuntimeError, match=r"python -m r2p\.features"):
        MonotonicSqliteOnlineStore()._get_conn(template)
