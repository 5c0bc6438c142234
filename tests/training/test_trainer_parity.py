"""With every new trainer option on (a learning-rate schedule, weight decay, class weights),
the PyTorch prototype and the TensorFlow retrain are still the same model trained the same
way: the same rate every epoch (``plateau`` with dropout: when the retrain follows the
prototype's recorded cuts), the same logits when nothing random differs (no dropout), and the
exported graph passes the parity gate (metric within tolerance, argmax agreement) against the
prototype on the test split.

``epochs`` is raised to 40 (a maximum: early stopping or the schedule's end stops it) because
the shipped 10 leave churn's model at its best in the last epoch, with balanced weights most
test rows within 0.05 of p = 0.5; there the two frameworks' different dropout masks flip the
argmax of near-ties (agreement 95.7 %, AUC delta 0.0007) although nothing else differs.
"""

from __future__ import annotations

import numpy as np
import pytest

from r2p.config.schema import EarlyStopping
from r2p.export.stage import export_stage, parity_stage
from r2p.training import stage

OPTIONS = {
    "churn": {"lr_schedule": "plateau", "weight_decay": 0.01, "class_weight": "balanced"},
    "fleet": {
        "lr_schedule": "cosine",
        "weight_decay": 0.05,
        "class_weight": {"breakdown": 2.0, "service_soon": 1.5},
    },
}
BOTH = pytest.mark.parametrize("built", ["churn", "fleet"], indirect=True)


def _options_on(cfg, **more):
    return cfg.models[0].model_copy(
        update={**OPTIONS[cfg.pipeline], "name": "options_on", "epochs": 40, **more}
    )


@BOTH
def test_without_dropout_both_frameworks_give_the_same_model(built) -> None:
    from r2p.training.tf_trainer import train_tf
    from r2p.training.torch_trainer import train_torch

    cfg, _, data, _ = built
    spec = _options_on(cfg)
    spec = spec.model_copy(
        update={"layers": [la.model_copy(update={"dropout": 0.0}) for la in spec.layers]}
    )
    th, tf = train_torch(spec, data), train_tf(spec, data)
    assert [r["lr"] for r in tf.history] == pytest.approx([r["lr"] for r in th.history], rel=1e-6)
    assert th.best_epoch == tf.best_epoch and len(th.history) == len(tf.history)
    np.testing.assert_allclose(tf.logits(data.x["test"]), th.logits(data.x["test"]), atol=2e-3)


@pytest.mark.parametrize("built", ["churn"], indirect=True)
def test_the_retrain_follows_the_prototypes_plateau_cuts(built) -> None:
    """With dropout the two frameworks' validation losses differ in their last digits, and
    near the end of training a plateau cut can fall an epoch apart; given the prototype's
    recorded rates, the retrain trains every epoch at the same rate."""
    from r2p.training.tf_trainer import train_tf
    from r2p.training.torch_trainer import train_torch

    cfg, _, data, _ = built
    spec = _options_on(cfg)
    assert any(layer.dropout for layer in spec.layers)
    th = train_torch(spec, data)
    rates = [row["lr"] for row in th.history]
    assert min(rates) < spec.learning_rate  # the prototype did cut
    tf = train_tf(spec, data, rates=rates)
    n = min(len(rates), len(tf.history))
    assert [r["lr"] for r in tf.history[:n]] == pytest.approx(rates[:n], rel=1e-6)


@BOTH
def test_prototype_and_retrain_pass_parity_with_every_option_on(built) -> None:
    cfg, dataset, _, _ = built
    spec = _options_on(cfg)
    cfg = cfg.model_copy(update={"models": [spec]})
    proto = stage.prototype_stage(cfg, dataset, "p1")
    model = stage.retrain_stage(cfg, dataset, "p1", proto)
    assert model["traces"] == {"train_step": 1, "eval_step": 1}
    # the retrain keeps the epoch the prototype's early stopping chose, and trains no further
    assert model["best_epoch"] == proto["best_epoch"]
    assert len(model["history"]) == proto["best_epoch"] + 1
    torch_lr = [row["lr"] for row in proto["history"]]
    tf_lr = [row["lr"] for row in model["history"]]
    # the retrain follows the prototype's rates epoch by epoch, up to the epoch it keeps
    assert tf_lr == pytest.approx(torch_lr[: len(tf_lr)], rel=1e-6)
    if spec.lr_schedule == "cosine":  # a function of the epoch
        assert torch_lr[1] < torch_lr[0] == spec.learning_rate
    else:  # plateau: the prototype cut the rate on its validation figures
        assert min(torch_lr) < spec.learning_rate
    export = export_stage(cfg, dataset, "p1", model)
    parity = parity_stage(cfg, dataset, "p1", proto, export, model)
    assert parity["passed"], parity
    assert parity["delta"] <= cfg.gates.parity_metric_tolerance
    assert parity["agreement"] >= cfg.gates.parity_min_agreement


@pytest.mark.parametrize("built", ["churn"], indirect=True)
def test_stop_at_trains_to_the_prototypes_epoch_and_keeps_it(built) -> None:
    """Told the prototype's best epoch, the retrain trains that many epochs plus one and
    keeps the last, whatever its own validation figures would have chosen."""
    from r2p.training.tf_trainer import train_tf

    cfg, _, data, _ = built
    spec = cfg.models[0].model_copy(update={"epochs": 8})
    kept = train_tf(spec, data, stop_at=2)
    assert len(kept.history) == 3 and kept.best_epoch == 2
    three = train_tf(
        spec.model_copy(update={"epochs": 3, "early_stopping": EarlyStopping(patience=5)}), data
    )
    if three.best_epoch == 2:  # the same three epochs, kept at the end: the same weights
        np.testing.assert_allclose(kept.logits(data.x["test"]), three.logits(data.x["test"]))
    assert train_tf(spec, data, stop_at=50).best_epoch == 7  # never beyond epochs
