"""The built-in model kinds (``linear``, ``mlp``, ``resmlp``, ``wide_deep``): each built from
config alone, the same network in PyTorch and TensorFlow (copied weights give the same
logits), trained by both trainers, exported to a frozen ``.pb`` that infra-validation loads in
a fresh process, and through the parity gate, on churn (numbers, booleans and categoricals)
and fleet (three classes)."""

from __future__ import annotations

import numpy as np
import pytest

from r2p.config.schema import Layer, ModelSpec, PipelineConfig
from r2p.export.stage import export_stage, infra_validate_stage, parity_stage
from r2p.training import models, stage

SPECS = {
    "linear": {"kind": "linear"},
    "mlp": {"kind": "mlp", "layers": [{"units": 16}]},
    "resmlp": {
        "kind": "resmlp",
        "layers": [
            {"units": 24, "norm": "layer", "dropout": 0.1},
            {"units": 12, "norm": "layer", "activation": "gelu"},
        ],
    },
    "wide_deep": {
        "kind": "wide_deep",
        "embedding_size": 3,
        "layers": [{"units": 16, "norm": "batch"}, {"units": 8, "dropout": 0.05}],
    },
}
LAYOUT = models.Layout(5, (4, 3, 2))


def _spec(kind: str, **extra) -> ModelSpec:
    return ModelSpec.model_validate({"name": f"k_{kind}", "seed": 3, **SPECS[kind], **extra})


def _one_hot_rows(layout: models.Layout, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = [rng.normal(size=(n, layout.dense))]
    for w in layout.categorical:
        parts.append(np.eye(w)[rng.integers(0, w, n)])
    return np.concatenate(parts, axis=1).astype(np.float32)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_copied_weights_give_the_same_logits(kind) -> None:
    import torch

    spec = _spec(kind)
    net = models.torch_model(spec, LAYOUT, 3).eval()
    keras_model = models.tf_model(spec, LAYOUT, 3)
    models.copy_weights(spec, net, keras_model)
    x = _one_hot_rows(LAYOUT, 64)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = keras_model(x, training=False).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    n_torch = sum(p.numel() for p in net.parameters())
    n_tf = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
    assert n_torch == n_tf


def test_linear_is_the_networks_logistic_regression() -> None:
    net = models.torch_model(_spec("linear"), LAYOUT, 2)
    assert [tuple(p.shape) for p in net.parameters()] == [(2, LAYOUT.input_dim), (2,)]


def test_wide_deep_embeds_each_categorical_block() -> None:
    net = models.torch_model(_spec("wide_deep"), LAYOUT, 2)
    assert [tuple(e.weight.shape) for e in net.embed] == [(3, 4), (3, 3), (3, 2)]
    assert net.deep[0].in_features == LAYOUT.dense + 3 * 3  # numbers, then the embeddings
    # without categoricals the deep part is an MLP over the numbers
    plain = models.torch_model(_spec("wide_deep"), models.Layout(6), 2)
    assert len(plain.embed) == 0 and plain.deep[0].in_features == 6


def test_resmlp_blocks_are_residual() -> None:
    import torch

    net = models.torch_model(_spec("resmlp"), 7, 2).eval()
    with torch.no_grad():
        for block in net.blocks:  # a zero back-projection makes a block the identity
            block.back.weight.zero_()
            block.back.bias.zero_()
        x = torch.randn(4, 7)
        assert torch.allclose(net(x), net.logits(net.norm(net.proj(x))), atol=1e-6)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "linear", "layers": [{"units": 4}]}, "kind linear has no hidden layer"),
        ({"kind": "resmlp"}, "kind resmlp needs at least one entry in layers"),
        ({"kind": "mlp", "layers": []}, "kind mlp needs at least one entry in layers"),
        ({"kind": "wide_deep", "layers": [{"units": 4}], "embedding_size": 0}, "embedding_size"),
    ],
)
def test_layers_that_do_not_fit_the_kind_are_refused(raw, message) -> None:
    with pytest.raises(ValueError, match=message):
        ModelSpec.model_validate({"name": "m", **raw})


def _with_kinds(cfg: PipelineConfig) -> PipelineConfig:
    raw = cfg.model_dump()
    raw["models"] = [
        {
            "name": f"k_{kind}",
            "seed": 3,
            "epochs": 15,
            "learning_rate": 0.01,
            "batch_size": 64,
            **spec,
        }
        for kind, spec in SPECS.items()
    ]
    return PipelineConfig.model_validate(raw)


@pytest.mark.parametrize("built", ["churn", "fleet"], indirect=True)
def test_every_kind_exports_a_pb_that_passes_infra_validation_and_parity(built) -> None:
    cfg, dataset, data, _ = built
    cfg = _with_kinds(cfg)
    assert data.pre.layout.categorical  # both pipelines carry one-hot blocks
    for spec in cfg.models:
        proto = stage.prototype_stage(cfg, dataset, "k1", spec.name)
        retrained = stage.retrain_stage(cfg, dataset, "k1", proto, model=spec.name)
        export = export_stage(cfg, dataset, "k1", retrained)
        report = infra_validate_stage(cfg, dataset, "k1", export)
        assert report["ok"] and report["max_abs_diff"] <= 1e-5, (spec.kind, report)
        parity = parity_stage(cfg, dataset, "k1", proto, export, retrained)
        assert parity["passed"], (spec.kind, parity)
        assert retrained["model"] == spec.name


def test_layers_field_is_still_a_list_of_layers() -> None:
    assert _spec("mlp").layers == [Layer(units=16)]
