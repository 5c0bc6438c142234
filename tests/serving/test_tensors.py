"""The gRPC tensor decoding and encoding (no server): the direct decoding gives what
``tf.make_ndarray`` gives for every encoding clients send, and the response tensor is what
``tf.make_tensor_proto`` would build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from r2p.serving.grpc_service import columns_from, probabilities_proto
from r2p.serving.registry import BadInput, Served

CONTRACT = {
    "inputs": [
        {"name": "x", "dtype": "float64", "shape": [None], "tensor": "x:0"},
        {"name": "plan", "dtype": "string", "shape": [None], "tensor": "plan:0"},
    ],
    "classes": ["a", "b"],
}
SERVED = Served("churn", 1, None, CONTRACT, Path("."))  # type: ignore[arg-type]


def _proto(values: Any, dtype: Any = None, content: bool = True) -> Any:
    import tensorflow as tf

    proto = tf.make_tensor_proto(np.asarray(values, dtype=dtype))
    if not content and proto.tensor_content:  # the list encoding (``double_val`` etc.)
        array = tf.make_ndarray(proto)
        proto.tensor_content = b""
        field = {1: "float_val", 2: "double_val", 3: "int_val", 9: "int64_val"}[proto.dtype]
        getattr(proto, field).extend(array.tolist())
    return proto


@pytest.mark.parametrize(
    "values,dtype,content",
    [
        pytest.param([1.5, np.nan, -2.0], np.float64, True, id="double-content"),
        pytest.param([1.5, np.nan, -2.0], np.float64, False, id="double-list"),
        pytest.param([1.5, 3.25], np.float32, True, id="float-content"),
        pytest.param([1.5, 3.25], np.float32, False, id="float-list"),
        pytest.param([7, -3], np.int32, True, id="int32-content"),
        pytest.param([7, -3], np.int64, False, id="int64-list"),
    ],
)
def test_numbers_decode_as_tensorflow_does(values: list, dtype: Any, content: bool) -> None:
    import tensorflow as tf

    proto = _proto(values, dtype, content)
    text = _proto([b"basic"] * len(values), object)
    got = columns_from(SERVED, {"x": proto, "plan": text})
    want = tf.make_ndarray(proto).astype("float64")
    np.testing.assert_array_equal(np.array(got["x"], dtype="float64"), want)
    assert all(type(v) is float for v in got["x"])
    assert got["plan"] == ["basic"] * len(values)


def test_broadcast_and_two_d_tensors() -> None:
    import tensorflow as tf

    broadcast = tf.make_tensor_proto(2.5, shape=[3])  # one value filling the shape
    text = _proto([b"a", b"b", b"c"], object)
    assert columns_from(SERVED, {"x": broadcast, "plan": text})["x"] == [2.5, 2.5, 2.5]
    with pytest.raises(BadInput, match="1-D"):
        columns_from(SERVED, {"x": _proto(np.ones((3, 1))), "plan": text})


@pytest.mark.parametrize(
    "inputs,message",
    [
        pytest.param({"x": _proto([b"a"], object)}, "expected a numeric", id="text-for-number"),
        pytest.param({"plan": _proto([1.0])}, "expected a string", id="number-for-text"),
        pytest.param({"plan": _proto([b"\xff"], object)}, "UTF-8", id="bad-utf8"),
        pytest.param({"x": _proto([True])}, "numeric or string", id="bool"),
    ],
)
def test_wrong_kind_is_bad_input(inputs: dict, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        columns_from(SERVED, inputs)


def test_probabilities_proto_equals_make_tensor_proto() -> None:
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2

    proba = np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]], dtype=np.float32)
    out = tensor_pb2.TensorProto()
    probabilities_proto(proba, out)
    assert out == tf.make_tensor_proto(proba)
    np.testing.assert_array_equal(tf.make_ndarray(out), proba)
