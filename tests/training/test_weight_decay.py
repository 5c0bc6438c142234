"""``weight_decay`` is decoupled and the same in both frameworks: one step on a fixed batch,
from the same initial weights, shrinks every weight matrix by ``learning_rate *
weight_decay`` of itself beyond the plain step (AdamW in both, and the same for SGD), leaves
biases and norm scales alone, and ends with the same weights in PyTorch and TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from r2p.config.schema import Layer, ModelSpec
from tests.training.helpers import synthetic_arrays

LR, WD = 0.01, 0.5  # a large decay, so its effect stands well clear of float32 noise


def _spec(optimizer: str, weight_decay: float) -> ModelSpec:
    return ModelSpec(
        name="decayed",
        layers=[Layer(units=8, norm="layer"), Layer(units=6)],  # no dropout: one exact step
        optimizer=optimizer,
        learning_rate=LR,
        weight_decay=weight_decay,
        seed=9,
    )


def _torch_step(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Initial weights and the weights after one step, Keras' layout (kernels transposed)."""
    import torch

    from r2p.training.models import torch_model
    from r2p.training.torch_trainer import Optimizer, loss_fn

    torch.manual_seed(spec.seed)
    net = torch_model(spec, x.shape[1], 3)
    opt = Optimizer(spec, net)
    opt.opt.zero_grad()
    loss_fn(None)(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    opt.step()
    return [p.detach().numpy().T.copy() for p in net.parameters()]


def _tf_step(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> tuple[list, list]:
    import tensorflow as tf

    from r2p.training.tf_trainer import GraphTrainer

    trainer = GraphTrainer(spec, x.shape[1], 3)
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]
    trainer.train_step(tf.constant(x), tf.constant(y))
    return before, [v.numpy() for v in trainer.model.trainable_variables]


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_one_step_shrinks_weight_matrices_equally_in_both(optimizer) -> None:
    data = synthetic_arrays(3, 4)
    x, y = data.x["train"][:32], data.y["train"][:32]
    start, tf_plain = _tf_step(_spec(optimizer, 0.0), x, y)
    _, tf_decayed = _tf_step(_spec(optimizer, WD), x, y)
    th_plain = _torch_step(_spec(optimizer, 0.0), x, y)
    th_decayed = _torch_step(_spec(optimizer, WD), x, y)
    assert [w.shape for w in th_decayed] == [w.shape for w in tf_decayed]
    # Keras' Adam adds epsilon outside the bias correction, PyTorch inside: a weight whose
    # gradient is near 1e-7 moves by a slightly different fraction of the rate (never more)
    between = 0.05 * LR if optimizer == "adam" else 1e-6
    for w0, tp, td, hp, hd in zip(start, tf_plain, tf_decayed, th_plain, th_decayed, strict=True):
        np.testing.assert_allclose(td, hd, atol=between)  # the same weights after the step
        np.testing.assert_allclose(tp, hp, atol=between)
        # decoupled: the decayed step is the plain step minus lr * wd * (weights before it)
        shrink = -LR * WD * w0 if w0.ndim >= 2 else np.zeros_like(w0)
        np.testing.assert_allclose(td - tp, shrink, atol=1e-6)
        np.testing.assert_allclose(hd - hp, shrink, atol=1e-6)
    kernels = [w for w in start if w.ndim >= 2]
    assert len(kernels) == 3 and all(np.abs(k).max() > 0.1 for k in kernels)


def test_zero_weight_decay_is_plain_adam() -> None:
    """Without weight_decay the optimizers are today's (Adam), so default configs train as
    before."""
    import torch

    from r2p.training.models import torch_model
    from r2p.training.tf_trainer import GraphTrainer
    from r2p.training.torch_trainer import Optimizer

    spec = _spec("adam", 0.0)
    assert type(Optimizer(spec, torch_model(spec, 4, 3)).opt) is torch.optim.Adam
    keras_opt = GraphTrainer(spec, 4, 3).optimizer
    assert type(keras_opt).__name__ == "Adam" and keras_opt.weight_decay is None
    decayed = GraphTrainer(_spec("adam", WD), 4, 3).optimizer
    assert type(decayed).__name__ == "AdamW" and decayed.weight_decay == WD
