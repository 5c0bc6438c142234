"""The REST API against a real server process: TF Serving's shapes, answers equal to the
loader's, every bad request a 4xx with ``{"error": ...}``, health and metadata."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.serving.conftest import Published, Server, as_columns, predict_request, sample_rows

pytestmark = pytest.mark.slow
PREDICT = "/v1/models/churn:predict"


@pytest.fixture(scope="module")
def reference(published: Published) -> Any:
    from r2p.serving.loader import FrozenModel

    return FrozenModel.load(published.builds[1] / "1")


@pytest.fixture(scope="module")
def rows(published: Published) -> list[dict[str, Any]]:
    return sample_rows(published.contract, 25)


@pytest.mark.parametrize(
    "path", [PREDICT, "/v1/models/churn/versions/1:predict"], ids=["latest", "version-1"]
)
def test_instances_equal_the_loader(server: Server, reference, rows, path: str) -> None:
    r = httpx.post(server.url + path, json={"instances": rows})
    assert r.status_code == 200, r.text
    assert r.headers["x-model-version"] == "1"
    # TF Serving's body (no version in it), and each row's label at the exported threshold
    assert set(r.json()) == {"predictions", "labels"}
    want = reference.predict(as_columns(rows))
    np.testing.assert_allclose(np.array(r.json()["predictions"]), want, atol=1e-6)
    assert r.json()["labels"] == at_threshold(reference.contract, want)


def test_inputs_equal_the_loader(server: Server, reference, rows) -> None:
    body = {"signature_name": "serving_default", "inputs": as_columns(rows)}
    r = httpx.post(server.url + PREDICT, json=body)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"outputs", "labels"}
    want = reference.predict(as_columns(rows))
    np.testing.assert_allclose(np.array(r.json()["outputs"]), want, atol=1e-6)
    assert r.json()["labels"] == at_threshold(reference.contract, want)


def at_threshold(contract: dict[str, Any], proba: np.ndarray) -> list[str]:
    """The labels the contract's threshold gives, worked out here from its recorded value."""
    threshold = contract["threshold"]
    assert threshold is not None and threshold["class"] == "churned"
    pos = contract["classes"].index("churned")
    other = contract["classes"][1 - pos]
    return ["churned" if p[pos] >= threshold["value"] else other for p in proba]


def test_single_instance_and_missing_values(server: Server, reference, rows) -> None:
    row = {k: None for k in rows[0]}  # every feature missing: the model still answers
    r = httpx.post(server.url + PREDICT, json={"instances": [row]})
    assert r.status_code == 200, r.text
    proba = np.array(r.json()["predictions"])
    assert proba.shape == (1, 2)
    np.testing.assert_allclose(proba, reference.predict(as_columns([row])), atol=1e-6)
    np.testing.assert_allclose(proba.sum(), 1.0, atol=1e-5)


def test_status_and_metadata(server: Server, published: Published) -> None:
    status = httpx.get(server.url + "/v1/models/churn").json()
    assert status == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    meta = httpx.get(server.url + "/v1/models/churn/metadata").json()
    assert meta["model_spec"] == {"name": "churn", "signature_name": "", "version": "1"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    names = [i["name"] for i in published.contract["inputs"]]
    assert sorted(sig["inputs"]) == sorted(names)
    kinds = {i["name"]: i["dtype"] for i in published.contract["inputs"]}
    for name, info in sig["inputs"].items():
        assert info["dtype"] == {"float64": "DT_DOUBLE", "string": "DT_STRING"}[kinds[name]]
        assert info["tensor_shape"]["dim"] == [{"size": "-1"}]
    assert sorted(sig["outputs"]) == ["label", "probabilities"]
    assert sig["outputs"]["label"]["dtype"] == "DT_STRING"


def test_health(server: Server) -> None:
    assert httpx.get(server.url + "/healthz").status_code == 200
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 200, ready.text


def test_request_id_echoed_or_generated(server: Server) -> None:
    given = httpx.get(server.url + "/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = httpx.get(server.url + "/healthz")
    assert len(made.headers["x-request-id"]) == 32
    assert "rid=abc-123" in server.log.read_text()


def _row(contract: dict[str, Any], **changes: Any) -> dict[str, Any]:
    row = sample_rows(contract, 1, seed=7)[0]
    row.update(changes)
    return {k: v for k, v in row.items() if v != "<drop>"}


def _bad_requests(contract: dict[str, Any]) -> list[tuple[str, bytes, int]]:
    num = next(i["name"] for i in contract["inputs"] if i["dtype"] == "float64")
    text = next(i["name"] for i in contract["inputs"] if i["dtype"] == "string")
    row = _row(contract)

    def body(payload: Any) -> bytes:
        return json.dumps(payload).encode()

    cols = as_columns([row, row])
    return [
        ("malformed-json", b'{"instances": [', 400),
        ("not-utf8", b'{"instances": "\xff\xfe"}', 400),
        ("not-an-object", body([row]), 400),
        ("neither-key", body({"rows": [row]}), 400),
        ("both-keys", body({"instances": [row], "inputs": cols}), 400),
        ("empty-instances", body({"instances": []}), 400),
        ("too-many-instances", body({"instances": [row] * 1001}), 400),
        ("missing-feature", body({"instances": [_row(contract, **{num: "<drop>"})]}), 400),
        ("extra-feature", body({"instances": [_row(contract, surprise=1.0)]}), 400),
        ("text-for-number", body({"instances": [_row(contract, **{num: "12"})]}), 400),
        ("number-for-text", body({"instances": [_row(contract, **{text: 3})]}), 400),
        ("bool-for-number", body({"instances": [_row(contract, **{num: True})]}), 400),
        ("nested-value", body({"instances": [_row(contract, **{num: [1.0]})]}), 400),
        (
            "infinite-number",
            body({"instances": [_row(contract, **{num: 0.125})]}).replace(b"0.125", b"1e999"),
            400,
        ),
        ("huge-int", body({"instances": [_row(contract, **{num: 10**400})]}), 400),
        ("lone-surrogate", body({"instances": [_row(contract, **{text: "\ud800"})]}), 400),
        ("ragged-columns", body({"inputs": {**cols, num: [1.0]}}), 400),
        ("scalar-column", body({"inputs": {**cols, num: 1.0}}), 400),
        ("unknown-signature", body({"signature_name": "x", "instances": [row]}), 400),
        ("oversized-2MiB", body({"instances": [row], "pad": "x" * (2 << 20)}), 413),
    ]


BAD_CASES = [
    "malformed-json", "not-utf8", "not-an-object", "neither-key", "both-keys", "empty-instances",
    "too-many-instances", "missing-feature", "extra-feature", "text-for-number",
    "number-for-text", "bool-for-number", "nested-value", "infinite-number", "huge-int",
    "lone-surrogate", "ragged-columns", "scalar-column", "unknown-signature", "oversized-2MiB",
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_request(server: Server, published: Published, case: str) -> None:
    """A broken request gets its status and ``{"error": ...}``, never a 500."""
    cases = {name: (content, want) for name, content, want in _bad_requests(published.contract)}
    assert set(cases) == set(BAD_CASES)
    content, want = cases[case]
    headers = {"Content-Type": "application/json"}
    r = httpx.post(server.url + PREDICT, content=content, headers=headers)
    assert r.status_code == want, r.text
    assert r.headers["content-type"] == "application/json"
    assert isinstance(r.json()["error"], str) and r.json()["error"]
    assert httpx.get(server.url + "/healthz").status_code == 200  # the server survived it


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/v1/models/other:predict"),
        ("POST", "/v1/models/churn/versions/2:predict"),
        ("GET", "/v1/models/other"),
        ("GET", "/v1/models/churn/versions/7/metadata"),
        ("GET", "/no/such/path"),
    ],
    ids=["model", "version", "status", "metadata-version", "path"],
)
def test_unknown_model_or_version_is_404(server: Server, rows, method: str, path: str) -> None:
    r = httpx.request(method, server.url + path, json={"instances": rows[:1]})
    assert r.status_code == 404
    assert r.json()["error"]


def test_metrics_count_requests(server: Server) -> None:
    httpx.get(server.url + "/healthz")
    text = httpx.get(server.url + "/metrics").text
    assert 'r2p_serving_requests_total{code="200",endpoint="healthz",protocol="rest"}' in text
    assert 'r2p_serving_model_version{model="churn"} 1.0' in text
    assert "r2p_serving_request_seconds_bucket" in text
    assert "process_resident_memory_bytes" in text
    assert "r2p_serving_ready 1.0" in text


def test_timeout_is_504_and_deadline_exceeded(start_server) -> None:
    """An inference over --timeout-seconds is 504 (DEADLINE_EXCEEDED on gRPC); a body that
    trickles in for longer than --read-timeout-seconds is 408 and the connection is closed."""
    srv = start_server("--timeout-seconds", "0.000001", "--read-timeout-seconds", "0.5")
    srv.wait()
    row = sample_rows_for(srv)
    r = httpx.post(srv.url + PREDICT, json={"instances": [row]})
    assert r.status_code == 504
    assert "inference took over" in r.json()["error"]

    def trickle() -> Iterator[bytes]:
        body = json.dumps({"instances": [row]}).encode()
        for i in range(0, len(body), 20):
            time.sleep(0.1)
            yield body[i : i + 20]

    t0 = time.monotonic()
    try:
        slow = httpx.post(srv.url + PREDICT, content=trickle(), timeout=10)
    except httpx.WriteError:  # the server answered and closed while the client still sent
        slow = None
    took = time.monotonic() - t0
    if slow is not None:
        assert slow.status_code == 408, slow.text
        assert "not received within 0.5s" in slow.json()["error"]
        assert slow.headers["connection"] == "close"
    assert took < 5, f"the slow body held the request for {took:.1f}s"
    assert 'code="408"' in httpx.get(srv.url + "/metrics").text
    assert httpx.get(srv.url + "/readyz").status_code == 200
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    contract = json.loads(next(Path(srv.serving_dir, "churn").glob("*/contract.json")).read_text())
    request = predict_request(contract, as_columns([row]))
    with grpc.insecure_channel(srv.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def sample_rows_for(srv: Server) -> dict[str, Any]:
    contract = json.loads(next(Path(srv.serving_dir, "churn").glob("*/contract.json")).read_text())
    return sample_rows(contract, 1)[0]


def _multi_request_batches(server: Server) -> float:
    """Model runs of the batching threads that answered two requests or more, so far."""
    text = httpx.get(server.url + "/metrics").text
    single = re.search(r'^r2p_serving_batch_requests_bucket\{le="1\.0"\} (\S+)$', text, re.M)
    total = re.search(r"^r2p_serving_batch_requests_count (\S+)$", text, re.M)
    assert single and total, "no batch histogram in /metrics"
    return float(total.group(1)) - float(single.group(1))


def test_concurrent_requests_get_their_own_rows(server: Server, reference, rows) -> None:
    """Requests merged into one batch each get the answer to their own rows; concurrent
    requests are batched (not answered one by one on the event loop)."""
    from concurrent.futures import ThreadPoolExecutor

    merged_before = _multi_request_batches(server)

    def ask(i: int) -> list:
        body = {"instances": rows[i % len(rows) : i % len(rows) + 1 + i % 3]}
        r = httpx.post(server.url + PREDICT, json=body, timeout=10)
        assert r.status_code == 200, r.text
        return [body["instances"], r.json()["predictions"]]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(96)))
    for sent, got in answers:
        want = reference.predict(as_columns(sent))
        np.testing.assert_allclose(np.array(got), want, atol=1e-6)
    assert _multi_request_batches(server) > merged_before
