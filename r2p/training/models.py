"""One model spec, two frameworks: the same MLP built in PyTorch and in TensorFlow.

Each hidden layer is Dense(units) -> normalisation (none, batch or layer) -> activation ->
dropout; the head is Dense(n_classes) giving logits (softmax cross-entropy, for two classes
too). Normalisation constants match across frameworks (epsilon 1e-5, batch-norm momentum 0.1
in PyTorch's sense), so weights copied from one model make the other give the same logits.
The registry maps a spec's ``kind`` to its builders; only ``mlp`` exists today.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from r2p.config.schema import ModelSpec

EPS = 1e-5
BN_MOMENTUM = 0.1  # PyTorch's convention; Keras takes 1 - this


def build_torch(spec: ModelSpec, input_dim: int, n_classes: int) -> Any:
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


def build_tf(spec: ModelSpec, input_dim: int, n_classes: int) -> Any:
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


def copy_torch_to_tf(torch_model: Any, tf_model: Any) -> None:
    """Load a PyTorch model's weights into the TensorFlow model of the same spec."""
    from torch import nn

    linears = [m for m in torch_model if isinstance(m, nn.Linear)]
    norms = [m for m in torch_model if isinstance(m, nn.BatchNorm1d | nn.LayerNorm)]
    dense = [layer for layer in tf_model.layers if layer.name.startswith(("dense_", "logits"))]
    tf_norms = [layer for layer in tf_model.layers if layer.name.startswith("norm_")]
    for src, dst in zip(linears, dense, strict=True):
        dst.set_weights([src.weight.detach().numpy().T, src.bias.detach().numpy()])
    for src, dst in zip(norms, tf_norms, strict=True):
        weights = [src.weight.detach().numpy(), src.bias.detach().numpy()]
        if isinstance(src, nn.BatchNorm1d):
            weights += [src.running_mean.numpy(), src.running_var.numpy()]
        dst.set_weights(weights)


REGISTRY: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "mlp": (build_torch, build_tf),
}
