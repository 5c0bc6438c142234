"""The loader's frozen model: fed one matrix per dtype through the direct session run, it
answers exactly as the graph's own per-feature inputs (what TF Serving feeds) do."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

from r2p.serving.loader import FrozenModel, _direct_runner, feeds_for
from tests.serving.conftest import Published, as_columns, sample_rows

pytestmark = pytest.mark.slow


def per_feature_answers(published: Published, columns: dict[str, list]) -> np.ndarray:
    """The frozen graph imported as is and fed one placeholder per feature, by Session.run."""
    import tensorflow as tf

    folder = published.builds[1] / "1"
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((folder / "model.pb").read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    contract = published.contract
    out = next(o["tensor"] for o in contract["outputs"] if o["name"] == "probabilities")
    feeds = {
        graph.get_tensor_by_name(item["tensor"]): value
        for item, value in zip(
            contract["inputs"], feeds_for(contract, columns).values(), strict=True
        )
    }
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run(graph.get_tensor_by_name(out), feeds)


@pytest.fixture(scope="module")
def model(published: Published) -> FrozenModel:
    return FrozenModel.load(published.builds[1] / "1")


@pytest.mark.parametrize("rows", [1, 7, 300])
def test_packed_feed_answers_as_the_per_feature_inputs(
    model: FrozenModel, published: Published, rows: int
) -> None:
    columns = as_columns(sample_rows(published.contract, rows, seed=rows))
    name = next(i["name"] for i in published.contract["inputs"] if i["dtype"] != "string")
    columns[name][0] = float("nan")  # NaN and None are both missing
    got = model.predict(columns)
    assert got.shape == (rows, len(published.contract["classes"])) and got.dtype == np.float32
    np.testing.assert_allclose(got, per_feature_answers(published, columns), rtol=1e-6)


def test_without_the_private_session_call_the_public_run_answers_the_same(
    model: FrozenModel, published: Published
) -> None:
    fed = [model.graph.get_tensor_by_name(f"r2p_fed_{dtype}:0") for dtype, _ in model._groups]
    public = _direct_runner(types.SimpleNamespace(run=model.session.run), fed, model._output)
    columns = as_columns(sample_rows(published.contract, 5))
    direct = model.predict(columns)
    model._call, saved = public, model._call
    try:
        np.testing.assert_array_equal(model.predict(columns), direct)
    finally:
        model._call = saved


def test_a_contract_naming_a_tensor_the_graph_lacks_is_refused(published: Published) -> None:
    folder = published.builds[1] / "1"
    contract: dict[str, Any] = {**published.contract, "inputs": list(published.contract["inputs"])}
    contract["inputs"][0] = {**contract["inputs"][0], "tensor": "no_such_input:0"}
    with pytest.raises(ValueError, match="no_such_input"):
        FrozenModel((folder / "model.pb").read_bytes(), contract)
