"""The entity-keyed endpoint against a real server and the real Feast SQLite online store:
its answer equals the loader's on the entity's online values, those values equal the newest
point-in-time row the training set's join gives, bad requests are 400, a locked store 504, a
missing one 503."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

from tests.serving.conftest import OnlineDays, Published, Server, publish

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PREDICT = "/v1/models/churn/entities:predict"
DESCRIBE = "/v1/models/churn/entities"
UNKNOWN = 10**9


@pytest.fixture(scope="module")
def entity_server(
    published: Published, online_days: OnlineDays, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    serving_dir = tmp_path_factory.mktemp("entities") / "serving"
    serving_dir.mkdir()
    publish(serving_dir, published.builds[1])
    srv = Server(serving_dir, published.home, "--feature-timeout-seconds", "1")
    try:
        srv.wait(DESCRIBE)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def cfg() -> Any:
    import r2p.config

    return r2p.config.load_pipeline("churn")


def _as_training_input(value: Any) -> Any:
    """A raw value as the export's golden rows feed it: text, float, or None."""
    return None if value is None else (value if isinstance(value, str) else float(value))


def test_describe_names_the_trained_feature_service(entity_server: Server, published) -> None:
    r = httpx.get(entity_server.url + DESCRIBE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["feature_service"] == "churn_mlp_v1"
    assert (body["join_key"], body["key_dtype"]) == ("customer_id", "int64")
    assert list(body["features"]) == [i["name"] for i in published.contract["inputs"]]
    assert body["features"]["age"] == {"view": "churn_profile", "ttl_seconds": 2 * 86400}


def test_prediction_equals_the_loader_on_online_values(
    entity_server: Server, published: Published, online_days: OnlineDays, cfg
) -> None:
    from r2p.features.store import feature_store
    from r2p.serving.loader import FrozenModel
    from tests.features.helpers import online

    ids = online_days.fresh[:6]
    body = {"entities": [{"customer_id": i} for i in [*ids, UNKNOWN]]}
    r = httpx.post(entity_server.url + PREDICT, json=body, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["x-model-version"] == "1"
    answer = r.json()
    assert answer["model_version"] == 1 and answer["feature_service"] == "churn_mlp_v1"
    *found, missing = answer["results"]
    assert missing["entity"] == {"customer_id": UNKNOWN} and missing["error"] == "not found"
    assert "probabilities" not in missing
    assert {f["status"] for f in missing["features"].values()} == {"NOT_FOUND"}

    values = online(feature_store(), cfg, ids)
    names = [i["name"] for i in published.contract["inputs"]]
    columns = {n: [_as_training_input(v) for v in values[n]] for n in names}
    want = FrozenModel.load(published.builds[1] / "1").predict(columns)
    got = np.array([a["probabilities"] for a in found])
    np.testing.assert_allclose(got, want, atol=1e-6)
    for i, a in enumerate(found):
        assert a["entity"] == {"customer_id": ids[i]} and a["model_version"] == 1
        threshold = published.contract["threshold"]  # churned from its exported threshold on
        pos = published.contract["classes"].index(threshold["class"])
        said = threshold["class"] if want[i][pos] >= threshold["value"] else "retained"
        assert a["class"] == said
        assert {n: f["value"] for n, f in a["features"].items()} == {n: values[n][i] for n in names}
        assert {f["status"] for f in a["features"].values()} == {"PRESENT"}


def test_online_features_agree_with_the_point_in_time_join(
    entity_server: Server, online_days: OnlineDays, cfg
) -> None:
    """Train/serve agreement: what the endpoint fed the model is the newest row the training
    set's point-in-time join gives each entity as of the request, with its event time."""
    from r2p.training_set.build import feature_views
    from r2p.training_set.pit import point_in_time_join

    ids = online_days.fresh[:10]
    as_of = dt.datetime.now(dt.UTC)
    r = httpx.post(
        entity_server.url + PREDICT, json={"entities": [{"customer_id": i} for i in ids]}
    )
    assert r.status_code == 200, r.text
    key, ts = cfg.dataset.entity.key, cfg.dataset.label.timestamp
    entities = pa.table(
        {key: pa.array(ids), ts: pa.array([as_of] * len(ids), pa.timestamp("us", tz="UTC"))}
    )
    views, _ = feature_views(cfg, entities)
    offline = point_in_time_join(entities, key, ts, views).to_pylist()
    for answer, row in zip(r.json()["results"], offline, strict=True):
        for col in cfg.feature_columns:
            served = answer["features"][col.name]["value"]
            assert served == row[col.name], (row[key], col.name)
            assert type(served) is type(row[col.name]), (col.name, col.dtype)
        for view in views:
            rows = [
                t
                for k, t in zip(
                    view.table.column(key).to_pylist(),
                    view.table.column(view.timestamp).to_pylist(),
                    strict=True,
                )
                if k == row[key] and t <= as_of
            ]
            newest = max(rows).replace(microsecond=0)  # Feast keeps whole seconds online
            got = {
                answer["features"][c]["event_timestamp"]
                for c in view.features
                if c in answer["features"]
            }
            assert got == {newest.isoformat()}, (row[key], view.name)


@pytest.mark.parametrize(
    "body,message",
    [
        pytest.param({"entities": [{}]}, "the key is missing", id="missing-key"),
        pytest.param(
            {"entities": [{"customer_id": 1, "plan": "basic"}]}, "unknown keys", id="extra-key"
        ),
        pytest.param({"entities": [{"customer_id": "1"}]}, "expected an integer", id="key-text"),
        pytest.param({"entities": [{"customer_id": 1.0}]}, "expected an integer", id="key-float"),
        pytest.param({"entities": [{"customer_id": True}]}, "expected an integer", id="key-bool"),
        pytest.param({"entities": [{"customer_id": 2**63}]}, "int64", id="key-overflow"),
        pytest.param({"entities": []}, "no entities", id="empty"),
        pytest.param({"entities": {"customer_id": 1}}, "list of objects", id="not-a-list"),
        pytest.param({"instances": [{"customer_id": 1}]}, "the body must be", id="wrong-field"),
        pytest.param([1], "the body must be", id="not-an-object"),
    ],
)
def test_bad_request_is_400(entity_server: Server, body: Any, message: str) -> None:
    r = httpx.post(entity_server.url + PREDICT, json=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]


def test_not_json_and_other_model(entity_server: Server) -> None:
    r = httpx.post(entity_server.url + PREDICT, content=b"{not json")
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
    body = {"entities": [{"customer_id": 1}]}
    r = httpx.post(entity_server.url + "/v1/models/fleet/entities:predict", json=body)
    assert r.status_code == 404
    r = httpx.post(entity_server.url + "/v1/models/churn/versions/7/entities:predict", json=body)
    assert r.status_code == 404
    r = httpx.post(entity_server.url + "/v1/models/churn/versions/1/entities:predict", json=body)
    assert r.status_code == 200


def test_locked_store_is_504_within_the_timeout(
    entity_server: Server, published: Published, online_days: OnlineDays
) -> None:
    body = {"entities": [{"customer_id": online_days.fresh[0]}]}
    lock = sqlite3.connect(published.home / "feast" / "online.db", isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # readers now wait on SQLite's busy handler
        t0 = time.monotonic()
        r = httpx.post(entity_server.url + PREDICT, json=body, timeout=10)
        took = time.monotonic() - t0
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert r.status_code == 504, r.text
    assert "no answer within 1.0s" in r.json()["error"]
    assert 0.9 < took < 3.0
    r = httpx.post(entity_server.url + PREDICT, json=body, timeout=10)
    assert r.status_code == 200, r.text  # the store is back: so is the endpoint


def test_no_feature_store_is_503(published: Published, tmp_path) -> None:
    """A server whose home has no Feast registry: the TF Serving API works, entities 503."""
    serving_dir = tmp_path / "serving"
    serving_dir.mkdir()
    publish(serving_dir, published.builds[1])
    srv = Server(serving_dir, tmp_path / "empty-home")
    try:
        srv.wait()
        deadline = time.monotonic() + 60
        while (described := httpx.get(srv.url + DESCRIBE, timeout=10)).status_code == 504:
            assert time.monotonic() < deadline, "the feature service never failed to resolve"
            time.sleep(0.2)  # 504 while the first resolution (importing Feast) is under way
        assert described.status_code == 503, described.text
        r = httpx.post(srv.url + PREDICT, json={"entities": [{"customer_id": 1}]}, timeout=10)
        assert r.status_code == 503, r.text
        assert r.json()["error"].startswith("feature store unavailable")
        assert httpx.get(srv.url + "/readyz").status_code == 200  # the model itself is fine
    finally:
        srv.stop()
