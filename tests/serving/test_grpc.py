"""The gRPC PredictionService against a real server process through TF Serving's own stub."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from tests.serving.conftest import Published, Server, as_columns, predict_request, sample_rows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stub(server: Server) -> Iterator[Any]:
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(server.grpc_target) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def test_predict_equals_the_loader(stub, published: Published) -> None:
    import tensorflow as tf

    from r2p.serving.loader import FrozenModel

    rows = sample_rows(published.contract, 20, seed=3)
    response = stub.Predict(predict_request(published.contract, as_columns(rows)), timeout=10)
    got = tf.make_ndarray(response.outputs["probabilities"])
    want = FrozenModel.load(published.builds[1] / "1").predict(as_columns(rows))
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert response.model_spec.name == "churn"
    assert response.model_spec.version.value == 1
    # beside them, each row's label at the exported threshold: what the graph's class_index says
    from r2p.calibration import Calibration

    labels = [v.decode() for v in tf.make_ndarray(response.outputs["label"])]
    contract = published.contract
    index = Calibration.from_json(contract["calibration"]).classes(want)
    assert labels == [contract["classes"][i] for i in index]
    assert contract["threshold"]["class"] == "churned"


def test_versioned_request_and_list_encoded_tensors(stub, published: Published) -> None:
    """Values in ``double_val``/``string_val`` (not tensor_content) and an explicit version."""
    import tensorflow as tf

    rows = sample_rows(published.contract, 3, seed=5)
    request = predict_request(published.contract, as_columns(rows), version=1)
    for item in published.contract["inputs"]:
        proto = request.inputs[item["name"]]
        values = tf.make_ndarray(proto).tolist()
        proto.ClearField("tensor_content")
        proto.ClearField("string_val")
        field = proto.string_val if item["dtype"] == "string" else proto.double_val
        field.extend(values)
    got = tf.make_ndarray(stub.Predict(request, timeout=10).outputs["probabilities"])
    assert got.shape == (3, 2)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_metadata(stub, published: Published) -> None:
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "churn"
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout=10)
    sigs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sigs)
    sig = sigs.signature_def["serving_default"]
    assert set(sig.inputs) == {i["name"] for i in published.contract["inputs"]}
    assert sorted(sig.outputs) == ["label", "probabilities"]


def _drop_first(columns: dict[str, list]) -> dict[str, list]:
    return dict(list(columns.items())[1:])


@pytest.mark.parametrize(
    "case,code",
    [
        ("unknown-model", grpc.StatusCode.NOT_FOUND),
        ("unknown-version", grpc.StatusCode.NOT_FOUND),
        ("missing-feature", grpc.StatusCode.INVALID_ARGUMENT),
        ("text-for-number", grpc.StatusCode.INVALID_ARGUMENT),
        ("two-d-tensor", grpc.StatusCode.INVALID_ARGUMENT),
        ("unknown-signature", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_bad_predict(stub, published: Published, case: str, code: grpc.StatusCode) -> None:
    import tensorflow as tf

    contract = published.contract
    columns = as_columns(sample_rows(contract, 2, seed=9))
    num = next(i["name"] for i in contract["inputs"] if i["dtype"] == "float64")
    request = {
        "unknown-model": lambda: predict_request(contract, columns, name="other"),
        "unknown-version": lambda: predict_request(contract, columns, version=9),
        "missing-feature": lambda: predict_request(contract, _drop_first(columns)),
        "text-for-number": lambda: predict_request(contract, columns),
        "two-d-tensor": lambda: predict_request(contract, columns),
        "unknown-signature": lambda: predict_request(contract, columns, signature_name="x"),
    }[case]()
    if case == "text-for-number":
        request.inputs[num].CopyFrom(tf.make_tensor_proto(np.array([b"a", b"b"], dtype=object)))
    if case == "two-d-tensor":
        request.inputs[num].CopyFrom(tf.make_tensor_proto(np.ones((2, 1))))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(request, timeout=10)
    assert err.value.code() == code
    assert err.value.details()


def test_grpc_requests_in_metrics(stub, server: Server) -> None:
    import httpx
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "other"
    with pytest.raises(grpc.RpcError):
        stub.GetModelMetadata(request, timeout=10)
    text = httpx.get(server.url + "/metrics").text
    labels = 'code="NOT_FOUND",endpoint="GetModelMetadata",protocol="grpc"'
    assert f"r2p_serving_requests_total{{{labels}}}" in text


def test_standard_health_service(server: Server) -> None:
    """``grpc.health.v1.Health`` (what gRPC load balancers and probes call) through its own
    stub: SERVING for the server and the PredictionService, NOT_FOUND for another service;
    ``Watch`` opens with the current status."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    serving = health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(server.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "tensorflow.serving.PredictionService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == serving, service
        with pytest.raises(grpc.RpcError) as err:
            health.Check(health_pb2.HealthCheckRequest(service="other.Service"), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert next(watch).status == serving
        watch.cancel()
