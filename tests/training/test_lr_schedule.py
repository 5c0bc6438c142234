"""``lr_schedule`` gives every epoch the same learning rate in PyTorch and in TensorFlow, read
back from each framework's optimizer into the history: ``cosine`` as PyTorch's own
CosineAnnealingLR, ``plateau`` cut by ``factor`` after ``patience`` epochs without
improving, never below ``min_learning_rate``; the graph-mode step is still traced once."""

from __future__ import annotations

import math

import numpy as np
import pytest

from r2p.config.schema import EarlyStopping, Layer, ModelSpec, Plateau
from r2p.training.early_stopping import Schedule, Stopper
from tests.training.helpers import synthetic_arrays


def _spec(schedule: str, optimizer: str = "adam", **extra) -> ModelSpec:
    return ModelSpec(
        name="scheduled",
        layers=[Layer(units=32)],
        optimizer=optimizer,
        learning_rate=0.01,
        batch_size=16,
        epochs=10,
        early_stopping=EarlyStopping(patience=4),
        lr_schedule=schedule,
        seed=5,
        **extra,
    )


def test_cosine_is_pytorchs_cosine_annealing_per_epoch() -> None:
    import torch

    spec = _spec("cosine", min_learning_rate=1e-4)
    ours = Schedule(spec, Stopper(spec, np.array([0, 1]), 2))
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=spec.learning_rate)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=spec.epochs, eta_min=1e-4)
    for epoch in range(spec.epochs):
        assert ours.rate(epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        ref.step()
    assert ours.rate(0) == spec.learning_rate and ours.rate(spec.epochs // 2) == pytest.approx(
        1e-4 + (0.01 - 1e-4) / 2
    )


def test_plateau_cuts_after_patience_and_stops_at_the_floor() -> None:
    spec = _spec("plateau", lr_plateau=Plateau(factor=0.5, patience=2), min_learning_rate=0.003)
    schedule = Schedule(spec, Stopper(spec, np.array([0, 1]), 2))
    rates = []
    for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.92, 0.91, 0.85, 0.86, 0.9, 0.9, 0.9]):
        rates.append(schedule.rate(epoch))
        schedule.observe({"val_log_loss": loss})
    # two epochs without a new best (0.95, 0.92) cut the rate; 0.85 is a new best; then two
    # more bad epochs cut again, to the floor 0.003 and not below it
    assert rates == [0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.005, 0.003, 0.003]


def test_none_keeps_the_rate() -> None:
    spec = _spec("none")
    schedule = Schedule(spec, Stopper(spec, np.array([0, 1]), 2))
    for epoch in range(5):
        schedule.observe({"val_log_loss": 1.0})
        assert schedule.rate(epoch) == spec.learning_rate


@pytest.fixture(scope="module")
def trained():
    """(schedule, optimizer) -> (PyTorch result, TensorFlow result), trained once."""
    from r2p.training.tf_trainer import train_tf
    from r2p.training.torch_trainer import train_torch

    cache: dict[tuple[str, str], tuple] = {}

    def run(schedule: str, optimizer: str):
        if (schedule, optimizer) not in cache:
            data = synthetic_arrays(3, 1)
            extra = {"weight_decay": 0.01, "class_weight": "balanced"}
            spec = _spec(schedule, optimizer, **extra)
            cache[schedule, optimizer] = train_torch(spec, data), train_tf(spec, data)
        return cache[schedule, optimizer]

    return run


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("schedule", ["none", "cosine", "plateau"])
def test_both_frameworks_train_each_epoch_at_the_same_rate(trained, schedule, optimizer) -> None:
    torch_result, tf_result = trained(schedule, optimizer)
    torch_lr = [row["lr"] for row in torch_result.history]
    tf_lr = [row["lr"] for row in tf_result.history]
    assert len(torch_lr) == len(tf_lr)
    np.testing.assert_allclose(tf_lr, torch_lr, rtol=1e-6)  # Keras holds its rate in float32
    spec = _spec(schedule, optimizer)
    if schedule == "cosine":
        expected = [0.01 * (1 + math.cos(math.pi * e / spec.epochs)) / 2 for e in range(10)]
        np.testing.assert_allclose(torch_lr, expected[: len(torch_lr)], rtol=1e-12)
    elif schedule == "none":
        assert set(torch_lr) == {0.01}
    assert tf_result.traces == {"train_step": 1, "eval_step": 1}  # a new rate never retraces
    # trained the same way, they learned the same: the same validation losses, epoch by epoch
    np.testing.assert_allclose(
        [r["val_log_loss"] for r in tf_result.history],
        [r["val_log_loss"] for r in torch_result.history],
        atol=2e-3,
    )
    assert tf_result.best_epoch == torch_result.best_epoch


def test_plateau_cut_the_rate_in_training(trained) -> None:
    for result in trained("plateau", "adam"):
        rates = [row["lr"] for row in result.history]
        assert min(rates) < 0.01 * 0.99, rates  # the synthetic data overfits: it plateaus
