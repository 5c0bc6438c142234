"""Model kinds: each a builder pair that builds the same architecture in PyTorch and in
TensorFlow, found by the spec's ``kind`` in :data:`REGISTRY`.

Callers build through :func:`torch_model`, :func:`tf_model` and :func:`copy_weights`, never
through a kind's builders. The registry imports no framework: the config loader checks
``models[].kind`` against its keys, and only the builders import torch or keras.

``mlp``: each hidden layer is Dense(units) -> normalisation (none, batch or layer) ->
activation -> dropout; the head is Dense(n_classes) giving logits (softmax cross-entropy, for
two classes too). Normalisation constants match across frameworks (epsilon 1e-5, batch-norm
momentum 0.1 in PyTorch's sense), so weights copied from one model make the other give the
same logits.

Adding a kind: write its builder pair, ``build_<kind>_torch(spec, input_dim, n_classes)``
returning a ``torch.nn.Module`` and ``build_<kind>_tf(...)`` returning a built Keras model of
the same architecture (both seeded from ``spec.seed``, torch and keras imported inside), and
add one line to ``REGISTRY``: ``"<kind>": Kind(build_<kind>_torch, build_<kind>_tf)``. The
default weight copy pairs PyTorch's Linear, BatchNorm1d and LayerNorm modules, in module
order, with the Keras layers that hold weights, in layer order; a kind with other layers
passes its own copy as the third field. A config may then say ``kind: <kind>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

EPS = 1e-5
BN_MOMENTUM = 0.1  # PyTorch's convention; Keras takes 1 - this

# A model spec (r2p.config.schema.ModelSpec): the builders read its name, seed and layers.
# Not imported here, so that the schema can check kinds against this registry.
Spec = Any


def build_torch(spec: Spec, input_dim: int, n_classes: int) -> Any:
    """The spec's MLP as a ``torch.nn.Sequential`` taking the encoded input matrix."""
    import torch
    from torch import nn

    acts: dict[str, Callable[[], nn.Module]] = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "gelu": nn.GELU,
        "sigmoid": nn.Sigmoid,
        "linear": nn.Identity,
    }
    torch.manual_seed(spec.seed)
    layers: list[nn.Module] = []
    width = input_dim
    for layer in spec.layers:
        layers.append(nn.Linear(width, layer.units))
        if layer.norm == "batch":
            layers.append(nn.BatchNorm1d(layer.units, eps=EPS, momentum=BN_MOMENTUM))
        elif layer.norm == "layer":
            layers.append(nn.LayerNorm(layer.units, eps=EPS))
        layers.append(acts[layer.activation]())
        if layer.dropout:
            layers.append(nn.Dropout(layer.dropout))
        width = layer.units
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def build_tf(spec: Spec, input_dim: int, n_classes: int) -> Any:
    """The same MLP as a Keras model (built, weights created) taking the encoded matrix."""
    import keras

    keras.utils.set_random_seed(spec.seed)
    inputs = keras.Input(shape=(input_dim,), dtype="float32", name="encoded")
    x = inputs
    for i, layer in enumerate(spec.layers):
        x = keras.layers.Dense(layer.units, name=f"dense_{i}")(x)
        if layer.norm == "batch":
            x = keras.layers.BatchNormalization(
                epsilon=EPS, momentum=1 - BN_MOMENTUM, name=f"norm_{i}"
            )(x)
        elif layer.norm == "layer":
            x = keras.layers.LayerNormalization(epsilon=EPS, name=f"norm_{i}")(x)
        if layer.activation != "linear":
            x = keras.layers.Activation(_tf_activation(layer.activation), name=f"act_{i}")(x)
        if layer.dropout:
            x = keras.layers.Dropout(layer.dropout, seed=spec.seed + i, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=spec.name)


def _tf_activation(name: str) -> Any:
    import tensorflow as tf

    if name == "gelu":  # exact (erf) GELU, as torch.nn.GELU
        return lambda t: tf.nn.gelu(t, approximate=False)
    return name


def copy_torch_to_tf(net: Any, keras_model: Any) -> None:
    """Load a PyTorch model's weights into the Keras model of the same architecture: its
    Linear, BatchNorm1d and LayerNorm modules, in order, into the Keras layers holding weights
    (Dense, BatchNormalization, LayerNormalization), in order. TypeError for any other PyTorch
    module with weights (give the kind its own copy)."""
    from torch import nn

    copied = (nn.Linear, nn.BatchNorm1d, nn.LayerNorm)
    sources = [m for m in net.modules() if next(m.parameters(recurse=False), None) is not None]
    other = sorted({type(m).__name__ for m in sources if not isinstance(m, copied)})
    if other:
        raise TypeError(f"copy_torch_to_tf copies Linear and norm layers only, not {other}")
    targets = [layer for layer in keras_model.layers if layer.weights]
    for src, dst in zip(sources, targets, strict=True):
        weights = [src.weight.detach().numpy(), src.bias.detach().numpy()]
        if isinstance(src, nn.Linear):
            weights[0] = weights[0].T
        elif isinstance(src, nn.BatchNorm1d):
            weights += [src.running_mean.numpy(), src.running_var.numpy()]
        dst.set_weights(weights)


class Kind(NamedTuple):
    """A model kind: its PyTorch and TensorFlow builders (``(spec, input_dim, n_classes)``)
    and the copy of PyTorch weights into the TensorFlow model."""

    torch: Callable[[Spec, int, int], Any]
    tf: Callable[[Spec, int, int], Any]
    copy_weights: Callable[[Any, Any], None] = copy_torch_to_tf


REGISTRY: dict[str, Kind] = {
    "mlp": Kind(build_torch, build_tf),
}


def kind_of(spec: Spec) -> Kind:
    """The registry entry of ``spec.kind``; KeyError listing the known kinds otherwise."""
    try:
        return REGISTRY[spec.kind]
    except KeyError:
        raise KeyError(
            f"model {spec.name!r}: unknown kind {spec.kind!r}; known: {sorted(REGISTRY)}"
        ) from None


def torch_model(spec: Spec, input_dim: int, n_classes: int) -> Any:
    """The spec's model, of its kind, in PyTorch (seeded from ``spec.seed``)."""
    return kind_of(spec).torch(spec, input_dim, n_classes)


def tf_model(spec: Spec, input_dim: int, n_classes: int) -> Any:
    """The spec's model, of its kind, in TensorFlow (built, weights created)."""
    return kind_of(spec).tf(spec, input_dim, n_classes)


def copy_weights(spec: Spec, torch_net: Any, keras_model: Any) -> None:
    """Load the PyTorch model's weights into the TensorFlow model of the same spec."""
    kind_of(spec).copy_weights(torch_net, keras_model)
