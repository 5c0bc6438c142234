"""Model kinds through the registry: a kind is one builder pair and one registry line, and
then the config accepts it and the trainers, the eager check and the weight copy build it."""

from __future__ import annotations

import numpy as np
import pytest

from r2p.config.schema import Layer, ModelSpec
from r2p.training import models
from r2p.training.eager_check import eager_check
from tests.training.helpers import synthetic_arrays

BUILT: list[tuple[str, str]] = []  # (framework, spec name) of every build of the test kind


def _wide_torch(spec, input_dim: int, n_classes: int):
    """One hidden block twice as wide as the spec's first layer, layer-normalised, tanh."""
    import torch
    from torch import nn

    BUILT.append(("pytorch", spec.name))
    torch.manual_seed(spec.seed)
    width = 2 * spec.layers[0].units
    return nn.Sequential(
        nn.Linear(input_dim, width),
        nn.LayerNorm(width, eps=models.EPS),
        nn.Tanh(),
        nn.Linear(width, n_classes),
    )


def _wide_tf(spec, input_dim: int, n_classes: int):
    import keras

    BUILT.append(("tensorflow", spec.name))
    keras.utils.set_random_seed(spec.seed)
    inputs = keras.Input(shape=(input_dim,), dtype="float32")
    x = keras.layers.Dense(2 * spec.layers[0].units)(inputs)
    x = keras.layers.LayerNormalization(epsilon=models.EPS)(x)
    x = keras.layers.Activation("tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(n_classes)(x), name=spec.name)


@pytest.fixture
def wide(monkeypatch):
    """The test kind ``wide``, registered the way a new kind is: one registry line."""
    monkeypatch.setitem(models.REGISTRY, "wide", models.Kind(_wide_torch, _wide_tf))
    BUILT.clear()
    return ModelSpec(name="wide_one", kind="wide", layers=[Layer(units=8)], epochs=2, seed=5)


def test_the_default_kind_is_mlp_and_builds_the_mlp() -> None:
    spec = ModelSpec(name="m", layers=[Layer(units=4)])
    assert spec.kind == "mlp" and models.kind_of(spec) is models.REGISTRY["mlp"]
    assert models.REGISTRY["mlp"] == (
        models.build_torch,
        models.build_tf,
        models.copy_torch_to_tf,
        False,  # builders take the input width, not the layout
    )


def test_a_registered_kind_is_built_by_both_trainers_and_the_eager_check(wide) -> None:
    from r2p.training.tf_trainer import train_tf
    from r2p.training.torch_trainer import train_torch

    data = synthetic_arrays(2, 0)
    torch_result = train_torch(wide, data)
    assert BUILT == [("pytorch", "wide_one")]
    assert [len(p.shape) for p in torch_result.model.parameters()] == [2, 1, 1, 1, 2, 1]
    tf_result = train_tf(wide, data)  # its own build, started from PyTorch's initial weights
    assert BUILT[1:] == [("tensorflow", "wide_one"), ("pytorch", "wide_one")]
    assert tf_result.model.layers[1].units == 16 and len(tf_result.history) == 2
    eager_check(wide, data)
    assert BUILT[3:] == [("tensorflow", "wide_one"), ("pytorch", "wide_one")]


def test_the_default_weight_copy_serves_a_new_kind(wide) -> None:
    import torch

    data = synthetic_arrays(3, 1)
    net = models.torch_model(wide, data.pre.input_dim, data.n_classes)
    keras_model = models.tf_model(wide, data.pre.input_dim, data.n_classes)
    with torch.no_grad():  # not the initial values: a copy that skipped a layer would show
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    models.copy_weights(wide, net, keras_model)
    x = data.x["test"]
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(keras_model(x, training=False).numpy(), expected, atol=1e-5)


def test_the_weight_copy_refuses_layers_it_does_not_know() -> None:
    from torch import nn

    net = nn.Sequential(nn.Linear(3, 4), nn.PReLU(), nn.Linear(4, 2))
    with pytest.raises(TypeError, match=r"not \['PReLU'\]"):
        models.copy_torch_to_tf(net, None)


def test_an_unknown_kind_at_build_time_names_the_known_ones() -> None:
    """A spec that skipped validation (the config rejects it on load, see tests/config)."""
    spec = ModelSpec.model_construct(name="m", kind="transformer", layers=[Layer(units=4)])
    with pytest.raises(
        KeyError,
        match=r"unknown kind 'transformer'; known: \['linear', 'mlp', 'resmlp', 'wide_deep'\]",
    ):
        models.torch_model(spec, 3, 2)
