"""``class_weight`` weighs each row's loss by its class, the same in both frameworks:
``balanced`` is ``n / (k * count)`` on the train split, a mapping gives its classes' weights
(1 for the rest); the batch loss is the mean over rows of weight times cross-entropy; and on
imbalanced data ``balanced`` makes both frameworks predict the rare class more often."""

from __future__ import annotations

import numpy as np
import pytest

from r2p.config.schema import Layer, ModelSpec
from r2p.training.data import Arrays, class_weights
from tests.training.helpers import synthetic_arrays

# a hand-made batch: 3 classes, 5 rows, fixed logits
LOGITS = np.array(
    [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 1.5, 0.0], [0.0, 0.0, 3.0], [1.0, -2.0, 0.5]],
    np.float32,
)
Y = np.array([0, 2, 1, 2, 0], np.int64)
WEIGHTS = np.array([1.0, 4.0, 0.5], np.float32)


def _expected(weights: np.ndarray | None) -> float:
    z = LOGITS.astype(np.float64)
    ce = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(Y)), Y]
    w = np.ones(len(Y)) if weights is None else weights[Y].astype(np.float64)
    return float(np.mean(w * ce))


def _spec(**extra) -> ModelSpec:
    return ModelSpec(name="weighted", layers=[Layer(units=16)], seed=2, **extra)


def _with_labels(y_train: np.ndarray) -> Arrays:
    data = synthetic_arrays(3, 0)
    data.y["train"] = y_train
    return data


def test_balanced_is_n_over_k_times_count_on_the_train_split() -> None:
    data = _with_labels(np.array([0] * 6 + [1] * 3 + [2] * 1))
    weights = class_weights(_spec(class_weight="balanced"), data)
    np.testing.assert_allclose(weights, [10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1)], rtol=1e-6)
    assert weights.dtype == np.float32
    # balanced weights average 1 over the train rows: the loss keeps its scale
    assert float(np.mean(weights[data.y["train"]])) == pytest.approx(1.0)
    absent = class_weights(_spec(class_weight="balanced"), _with_labels(np.array([0, 0, 1])))
    np.testing.assert_allclose(absent, [3 / 6, 3 / 3, 1.0])  # no train row of class 2


def test_a_mapping_weighs_its_classes_and_one_for_the_rest() -> None:
    data = synthetic_arrays(3, 0)
    got = class_weights(_spec(class_weight={"c1": 4.0, "c2": 0.5}), data)
    np.testing.assert_array_equal(got, WEIGHTS)
    assert class_weights(_spec(), data) is None
    with pytest.raises(ValueError, match=r"class_weight names \['c7'\], not classes"):
        class_weights(_spec(class_weight={"c7": 2.0}), data)


@pytest.mark.parametrize("weights", [None, WEIGHTS], ids=["unweighted", "weighted"])
def test_the_loss_of_a_hand_made_batch_in_both_frameworks(weights) -> None:
    import tensorflow as tf
    import torch

    from r2p.training.tf_trainer import GraphTrainer
    from r2p.training.torch_trainer import loss_fn

    expected = _expected(weights)
    got_torch = float(loss_fn(weights)(torch.from_numpy(LOGITS), torch.from_numpy(Y)))
    assert got_torch == pytest.approx(expected, rel=1e-6)
    # TensorFlow: the loss the traced train step returns, from a model made to give LOGITS:
    # the input is a one-hot row id, the hidden layer passes it on, the head holds LOGITS
    trainer = GraphTrainer(_spec(), 5, 3, weights)
    for layer in trainer.model.layers:
        if layer.weights:
            kernel = np.eye(5, layer.weights[0].shape[1], dtype=np.float32)
            if layer.name == "logits":
                kernel = np.zeros((16, 3), np.float32)
                kernel[:5] = LOGITS
            layer.set_weights([kernel, np.zeros(layer.weights[1].shape, np.float32)])
    x = np.eye(5, dtype=np.float32)  # relu keeps the one-hot rows
    np.testing.assert_allclose(trainer.model(x, training=False).numpy(), LOGITS, atol=1e-6)
    got_tf = float(trainer.train_step(tf.constant(x), tf.constant(Y)))
    assert got_tf == pytest.approx(expected, rel=1e-6)
    if weights is not None:
        assert got_tf != pytest.approx(_expected(None), rel=1e-3)  # the weights did something


def _imbalanced() -> Arrays:
    """Two classes, about 10% positives, a weak signal: unweighted training rarely predicts
    the rare class."""
    rng = np.random.default_rng(0)
    data = synthetic_arrays(2, 0)
    for split, rows in (("train", 600), ("valid", 200), ("test", 200)):
        x = rng.normal(size=(rows, data.pre.input_dim)).astype(np.float32)
        score = x[:, 0] + rng.normal(scale=1.0, size=rows)
        data.x[split], data.y[split] = x, (score > 1.8).astype(np.int64)
    return data


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_balanced_weights_make_the_rare_class_predicted_more_often(framework) -> None:
    from r2p.training.tf_trainer import train_tf
    from r2p.training.torch_trainer import train_torch

    train = train_torch if framework == "pytorch" else train_tf
    data = _imbalanced()
    assert 0.05 < data.y["train"].mean() < 0.2
    rare = {}
    for weight in ("none", "balanced"):
        spec = ModelSpec(
            name="imb", layers=[Layer(units=16)], epochs=6, batch_size=64, class_weight=weight
        )
        result = train(spec, data)
        rare[weight] = int((result.logits(data.x["test"]).argmax(axis=1) == 1).sum())
    assert rare["balanced"] > 2 * max(rare["none"], 1), rare
