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

``linear``: no hidden layer, the head alone (the network's logistic regression).
``resmlp``: a projection to the first layer's width, then one residual block per layer
(``x + Dropout(Dense_back(act(Dense(norm(x)))))``, the block's hidden width its ``units``),
then a final normalisation and the head. ``wide_deep``: a wide part, one Dense over the whole
encoded input, plus a deep part, an embedding of ``embedding_size`` per categorical feature
(a bias-free Dense over its one-hot block, which is an embedding lookup) concatenated with the
numbers and through the MLP of ``layers``; the logits are the sum of both.

Adding a kind: write its builder pair, ``build_<kind>_torch(spec, input_dim, n_classes)``
returning a ``torch.nn.Module`` and ``build_<kind>_tf(...)`` returning a built Keras model of
the same architecture (both seeded from ``spec.seed``, torch and keras imported inside), and
add one line to ``REGISTRY``: ``"<kind>": Kind(build_<kind>_torch, build_<kind>_tf)``. The
default weight copy pairs PyTorch's Linear, BatchNorm1d and LayerNorm modules, in module
order, with the Keras layers that hold weights, in layer order; a kind with other layers
passes its own copy as the third field (:func:`copy_by_name` pairs a PyTorch module named
``a.0.b`` with the Keras layer ``a_0_b``, for graphs whose layer order is not the module
order). A kind that needs to know which inputs are one-hot blocks sets ``layout=True`` and
gets a :class:`Layout` instead of ``input_dim``. A config may then say ``kind: <kind>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

EPS = 1e-5
BN_MOMENTUM = 0.1  # PyTorch's convention; Keras takes 1 - this

# A model spec (r2p.config.schema.ModelSpec): the builders read its name, seed and layers.
# Not imported here, so that the schema can check kinds against this registry.
Spec = Any


class Layout(NamedTuple):
    """What the encoded input matrix holds, in column order: ``dense`` numbers and missing
    indicators first, then one one-hot block per categorical feature (``categorical``: their
    widths, in config order). ``Preprocessing.layout`` gives it."""

    dense: int
    categorical: tuple[int, ...] = ()

    @property
    def input_dim(self) -> int:
        return self.dense + sum(self.categorical)


def _layout(inputs: int | Layout) -> Layout:
    return inputs if isinstance(inputs, Layout) else Layout(int(inputs))


def _torch_acts() -> dict[str, Callable[[], Any]]:
    from torch import nn

    return {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "gelu": nn.GELU,
        "sigmoid": nn.Sigmoid,
        "linear": nn.Identity,
    }


def _torch_norm(norm: str, width: int) -> Any:
    from torch import nn

    if norm == "batch":
        return nn.BatchNorm1d(width, eps=EPS, momentum=BN_MOMENTUM)
    if norm == "layer":
        return nn.LayerNorm(width, eps=EPS)
    return nn.Identity()


def _tf_norm(norm: str, name: str) -> Any:
    import keras

    if norm == "batch":
        return keras.layers.BatchNormalization(epsilon=EPS, momentum=1 - BN_MOMENTUM, name=name)
    if norm == "layer":
        return keras.layers.LayerNormalization(epsilon=EPS, name=name)
    return keras.layers.Identity(name=name)


def build_torch(spec: Spec, input_dim: int, n_classes: int) -> Any:
    """The spec's MLP as a ``torch.nn.Sequential`` taking the encoded input matrix."""
    import torch
    from torch import nn

    acts = _torch_acts()
    torch.manual_seed(spec.seed)
    layers: list[nn.Module] = []
    width = input_dim
    for layer in spec.layers:
        layers.append(nn.Linear(width, layer.units))
        if layer.norm != "none":  # no Identity in its place: stored state dicts keep their keys
            layers.append(_torch_norm(layer.norm, layer.units))
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
        if layer.norm != "none":
            x = _tf_norm(layer.norm, f"norm_{i}")(x)
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

    sources = [m for m in net.modules() if next(m.parameters(recurse=False), None) is not None]
    other = sorted({type(m).__name__ for m in sources if not isinstance(m, _copied())})
    if other:
        raise TypeError(f"copy_torch_to_tf copies Linear and norm layers only, not {other}")
    targets = [layer for layer in keras_model.layers if layer.weights]
    for src, dst in zip(sources, targets, strict=True):
        dst.set_weights(_keras_weights(src))


def _copied() -> tuple[type, ...]:
    from torch import nn

    return (nn.Linear, nn.BatchNorm1d, nn.LayerNorm)


def _keras_weights(module: Any) -> list[Any]:
    """A PyTorch Linear, BatchNorm1d or LayerNorm module's weights in its Keras twin's order
    (a Linear's kernel transposed; its bias only when it has one; batch norm's running
    statistics after scale and shift)."""
    from torch import nn

    weights = [module.weight.detach().numpy()]
    if isinstance(module, nn.Linear):
        weights[0] = weights[0].T
    if module.bias is not None:
        weights.append(module.bias.detach().numpy())
    if isinstance(module, nn.BatchNorm1d):
        weights += [module.running_mean.numpy(), module.running_var.numpy()]
    return weights


class Kind(NamedTuple):
    """A model kind: its PyTorch and TensorFlow builders (``(spec, input_dim, n_classes)``),
    the copy of PyTorch weights into the TensorFlow model, and whether the builders take the
    input's :class:`Layout` instead of its width."""

    torch: Callable[[Spec, Any, int], Any]
    tf: Callable[[Spec, Any, int], Any]
    copy_weights: Callable[[Any, Any], None] = copy_torch_to_tf
    layout: bool = False

    def inputs(self, inputs: int | Layout) -> int | Layout:
        """What this kind's builders take: the layout, or the input width."""
        layout = _layout(inputs)
        return layout if self.layout else layout.input_dim


def copy_by_name(net: Any, keras_model: Any) -> None:
    """Load a PyTorch model's weights into a Keras model whose layers carry the modules'
    names (``blocks.0.fc`` -> ``blocks_0_fc``): Linear (with or without bias), BatchNorm1d and
    LayerNorm. KeyError naming a module without its Keras layer, TypeError for another module
    with weights."""
    names = {layer.name for layer in keras_model.layers}
    for name, module in net.named_modules():
        if next(module.parameters(recurse=False), None) is None:
            continue
        if not isinstance(module, _copied()):
            raise TypeError(f"copy_by_name copies Linear and norm layers, not {name!r}")
        target = name.replace(".", "_")
        if target not in names:
            raise KeyError(f"PyTorch module {name!r} has no Keras layer {target!r}")
        keras_model.get_layer(target).set_weights(_keras_weights(module))


# -- linear: the head alone ----------------------------------------------------------------
def build_linear_torch(spec: Spec, input_dim: int, n_classes: int) -> Any:
    """No hidden layer: one Linear from the encoded input to the logits."""
    import torch
    from torch import nn

    torch.manual_seed(spec.seed)
    return nn.Sequential(nn.Linear(input_dim, n_classes))


def build_linear_tf(spec: Spec, input_dim: int, n_classes: int) -> Any:
    import keras

    keras.utils.set_random_seed(spec.seed)
    inputs = keras.Input(shape=(input_dim,), dtype="float32", name="encoded")
    return keras.Model(inputs, keras.layers.Dense(n_classes, name="logits")(inputs), name=spec.name)


# -- resmlp: residual blocks ---------------------------------------------------------------
def build_resmlp_torch(spec: Spec, input_dim: int, n_classes: int) -> Any:
    """Projection to ``layers[0].units``, one pre-norm residual block per layer, a final
    normalisation (``layers[0].norm``) and the head."""
    import torch
    from torch import nn

    acts = _torch_acts()
    width = spec.layers[0].units

    class Block(nn.Module):
        def __init__(self, layer: Any) -> None:
            super().__init__()
            self.norm = _torch_norm(layer.norm, width)
            self.fc = nn.Linear(width, layer.units)
            self.act = acts[layer.activation]()
            self.back = nn.Linear(layer.units, width)
            self.drop = nn.Dropout(layer.dropout) if layer.dropout else nn.Identity()

        def forward(self, x: Any) -> Any:
            return x + self.drop(self.back(self.act(self.fc(self.norm(x)))))

    class ResMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(input_dim, width)
            self.blocks = nn.ModuleList(Block(layer) for layer in spec.layers)
            self.norm = _torch_norm(spec.layers[0].norm, width)
            self.logits = nn.Linear(width, n_classes)

        def forward(self, x: Any) -> Any:
            x = self.proj(x)
            for block in self.blocks:
                x = block(x)
            return self.logits(self.norm(x))

    torch.manual_seed(spec.seed)
    return ResMLP()


def build_resmlp_tf(spec: Spec, input_dim: int, n_classes: int) -> Any:
    import keras

    keras.utils.set_random_seed(spec.seed)
    width = spec.layers[0].units
    inputs = keras.Input(shape=(input_dim,), dtype="float32", name="encoded")
    x = keras.layers.Dense(width, name="proj")(inputs)
    for i, layer in enumerate(spec.layers):
        h = _tf_norm(layer.norm, f"blocks_{i}_norm")(x)
        h = keras.layers.Dense(layer.units, name=f"blocks_{i}_fc")(h)
        if layer.activation != "linear":
            h = keras.layers.Activation(_tf_activation(layer.activation), name=f"act_{i}")(h)
        h = keras.layers.Dense(width, name=f"blocks_{i}_back")(h)
        if layer.dropout:
            h = keras.layers.Dropout(layer.dropout, seed=spec.seed + i, name=f"dropout_{i}")(h)
        x = keras.layers.Add(name=f"residual_{i}")([x, h])
    x = _tf_norm(spec.layers[0].norm, "norm")(x)
    return keras.Model(inputs, keras.layers.Dense(n_classes, name="logits")(x), name=spec.name)


# -- wide_deep: a wide linear part beside embeddings and an MLP ------------------------------
def build_wide_deep_torch(spec: Spec, layout: Layout, n_classes: int) -> Any:
    """``wide`` (Linear over the whole input) + ``deep`` (bias-free embeddings of each one-hot
    block, concatenated after the numbers, through the MLP of ``layers``)."""
    import torch
    from torch import nn

    acts = _torch_acts()
    blocks = layout.categorical
    size = spec.embedding_size

    class WideDeep(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wide = nn.Linear(layout.input_dim, n_classes)
            self.embed = nn.ModuleList(nn.Linear(w, size, bias=False) for w in blocks)
            width = layout.dense + size * len(blocks)
            hidden: list[nn.Module] = []
            for layer in spec.layers:
                hidden += [nn.Linear(width, layer.units), _torch_norm(layer.norm, layer.units)]
                hidden += [acts[layer.activation](), nn.Dropout(layer.dropout)]
                width = layer.units
            self.deep = nn.Sequential(*hidden)
            self.logits = nn.Linear(width, n_classes)

        def forward(self, x: Any) -> Any:
            parts, at = [x[:, : layout.dense]], layout.dense
            for w, embed in zip(blocks, self.embed, strict=True):
                parts.append(embed(x[:, at : at + w]))
                at += w
            return self.wide(x) + self.logits(self.deep(torch.cat(parts, dim=1)))

    torch.manual_seed(spec.seed)
    return WideDeep()


def build_wide_deep_tf(spec: Spec, layout: Layout, n_classes: int) -> Any:
    import keras

    keras.utils.set_random_seed(spec.seed)
    inputs = keras.Input(shape=(layout.input_dim,), dtype="float32", name="encoded")
    parts, at = [inputs[:, : layout.dense]], layout.dense
    for j, w in enumerate(layout.categorical):
        embed = keras.layers.Dense(spec.embedding_size, use_bias=False, name=f"embed_{j}")
        parts.append(embed(inputs[:, at : at + w]))
        at += w
    x = keras.layers.Concatenate(name="deep_in")(parts) if len(parts) > 1 else parts[0]
    for i, layer in enumerate(spec.layers):
        # PyTorch's Sequential numbers four modules per layer: Linear, norm, act, dropout
        x = keras.layers.Dense(layer.units, name=f"deep_{4 * i}")(x)
        x = _tf_norm(layer.norm, f"deep_{4 * i + 1}")(x)
        if layer.activation != "linear":
            x = keras.layers.Activation(_tf_activation(layer.activation), name=f"act_{i}")(x)
        if layer.dropout:
            x = keras.layers.Dropout(layer.dropout, seed=spec.seed + i, name=f"dropout_{i}")(x)
    deep = keras.layers.Dense(n_classes, name="logits")(x)
    wide = keras.layers.Dense(n_classes, name="wide")(inputs)
    return keras.Model(
        inputs, keras.layers.Add(name="wide_plus_deep")([wide, deep]), name=spec.name
    )


REGISTRY: dict[str, Kind] = {
    "mlp": Kind(build_torch, build_tf),
    "linear": Kind(build_linear_torch, build_linear_tf),
    "resmlp": Kind(build_resmlp_torch, build_resmlp_tf, copy_by_name),
    "wide_deep": Kind(build_wide_deep_torch, build_wide_deep_tf, copy_by_name, layout=True),
}
HIDDEN_LAYERS_NONE = frozenset({"linear"})  # kinds built without ``layers``


def kind_of(spec: Spec) -> Kind:
    """The registry entry of ``spec.kind``; KeyError listing the known kinds otherwise."""
    try:
        return REGISTRY[spec.kind]
    except KeyError:
        raise KeyError(
            f"model {spec.name!r}: unknown kind {spec.kind!r}; known: {sorted(REGISTRY)}"
        ) from None


def torch_model(spec: Spec, inputs: int | Layout, n_classes: int) -> Any:
    """The spec's model, of its kind, in PyTorch (seeded from ``spec.seed``); ``inputs`` is
    the encoded width or, for kinds that need it, the :class:`Layout`."""
    kind = kind_of(spec)
    return kind.torch(spec, kind.inputs(inputs), n_classes)


def tf_model(spec: Spec, inputs: int | Layout, n_classes: int) -> Any:
    """The spec's model, of its kind, in TensorFlow (built, weights created)."""
    kind = kind_of(spec)
    return kind.tf(spec, kind.inputs(inputs), n_classes)


def input_width(inputs: int | Layout) -> int:
    """The encoded input's width, from a width or a layout."""
    return _layout(inputs).input_dim


def copy_weights(spec: Spec, torch_net: Any, keras_model: Any) -> None:
    """Load the PyTorch model's weights into the TensorFlow model of the same spec."""
    kind_of(spec).copy_weights(torch_net, keras_model)
