"""early_stopping.monitor does what it says, in both frameworks: val_loss keeps the epoch of
the lowest validation log loss, val_auc the epoch of the highest validation ROC AUC (macro
one-vs-rest for more than two classes); both stop after ``patience`` epochs without one and
end with the best epoch's weights, and PyTorch and TensorFlow pick the same epoch."""

from __future__ import annotations

import numpy as np
import pytest

from r2p.config.schema import EarlyStopping, Layer, ModelSpec
from r2p.training.data import Arrays
from r2p.training.early_stopping import MonitorError, Stopper, monitor_key
from r2p.training.metrics import classification
from tests.training.helpers import synthetic_arrays

EPOCHS, PATIENCE = 12, 4


def _spec(monitor: str, epochs: int = EPOCHS) -> ModelSpec:
    return ModelSpec(
        name="overfits",
        layers=[Layer(units=64), Layer(units=32)],
        learning_rate=0.01,
        batch_size=16,
        epochs=epochs,
        early_stopping=EarlyStopping(patience=PATIENCE, monitor=monitor),
        seed=3,
    )


def _train(framework: str, spec: ModelSpec, data: Arrays):
    if framework == "pytorch":
        from r2p.training.torch_trainer import train_torch

        return train_torch(spec, data)
    from r2p.training.tf_trainer import train_tf

    return train_tf(spec, data)


DATA = pytest.mark.parametrize(
    ("n_classes", "seed"),
    [pytest.param(2, 0, id="binary"), pytest.param(3, 1, id="multiclass")],
)


@pytest.fixture(scope="module")
def runs():
    """(n_classes, seed, monitor, framework) -> (data, result), trained once per module."""
    cache: dict[tuple, tuple] = {}

    def run(n_classes: int, seed: int, monitor: str, framework: str):
        key = (n_classes, seed, monitor, framework)
        if key not in cache:
            data = synthetic_arrays(n_classes, seed)
            cache[key] = data, _train(framework, _spec(monitor), data)
        return cache[key]

    return run


@DATA
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
@pytest.mark.parametrize("monitor", ["val_loss", "val_auc"])
def test_best_epoch_is_the_best_of_the_monitored_history(
    runs, n_classes, seed, monitor, framework
) -> None:
    data, result = runs(n_classes, seed, monitor, framework)
    key, higher = monitor_key(monitor, n_classes)
    assert (
        key
        == {
            ("val_loss", 2): "val_log_loss",
            ("val_loss", 3): "val_log_loss",
            ("val_auc", 2): "val_roc_auc",
            ("val_auc", 3): "val_roc_auc_macro",
        }[(monitor, n_classes)]
    )
    figures = np.array([row[key] for row in result.history])
    best = int(np.argmax(figures) if higher else np.argmin(figures))
    assert result.best_epoch == best
    # stopped after PATIENCE epochs without a better one (the data overfits well before EPOCHS)
    assert len(result.history) == best + PATIENCE + 1 < EPOCHS
    # the weights it ends with are the best epoch's: they give the recorded figure again
    again = classification(result.logits(data.x["valid"]), data.y["valid"], n_classes)
    assert again[key.removeprefix("val_")] == pytest.approx(figures[best], abs=1e-6)


@DATA
@pytest.mark.parametrize("monitor", ["val_loss", "val_auc"])
def test_both_frameworks_pick_the_same_epoch(runs, n_classes, seed, monitor) -> None:
    _, torch_result = runs(n_classes, seed, monitor, "pytorch")
    _, tf_result = runs(n_classes, seed, monitor, "tensorflow")
    assert torch_result.best_epoch == tf_result.best_epoch
    key, _ = monitor_key(monitor, n_classes)
    np.testing.assert_allclose(
        [r[key] for r in tf_result.history], [r[key] for r in torch_result.history], atol=0.02
    )


@DATA
def test_the_monitor_changes_the_chosen_epoch(runs, n_classes, seed) -> None:
    """On this data the lowest loss and the highest AUC are different epochs: the setting is
    not ignored."""
    for framework in ("pytorch", "tensorflow"):
        by_loss = runs(n_classes, seed, "val_loss", framework)[1].best_epoch
        by_auc = runs(n_classes, seed, "val_auc", framework)[1].best_epoch
        assert by_loss != by_auc


def test_val_auc_needs_every_class_in_validation() -> None:
    data = synthetic_arrays(3, 1)
    data.y["valid"] = np.where(data.y["valid"] == 2, 0, data.y["valid"])
    with pytest.raises(MonitorError, match=r"early_stopping\.monitor val_auc needs every class"):
        Stopper(_spec("val_auc"), data.y["valid"], 3)
    Stopper(_spec("val_loss"), data.y["valid"], 3)  # the loss is defined all the same


def test_without_validation_rows_the_training_loss_decides() -> None:
    stopper = Stopper(_spec("val_auc"), np.array([], dtype=np.int64), 2)
    assert (stopper.key, stopper.higher) == ("train_loss", False)
    for epoch, loss in enumerate([0.9, 0.7, 0.7, 0.8, 0.75, 0.71]):
        stopper.improved(epoch, {"train_loss": loss})
    assert stopper.best_epoch == 1 and stopper.stop
