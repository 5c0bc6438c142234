"""The TensorFlow retrain: the same spec trained through ``tf.function`` steps (graph mode).

Both frameworks start from the same initial weights (PyTorch's, seeded, copied across) and
train the same way: the same epoch order, each epoch's learning rate from the one
``Schedule`` (assigned to the optimizer's rate variable, which the traced step reads, so a
new rate never retraces), decoupled weight decay of the weight matrices (Keras' ``AdamW``,
or ``SGD`` with ``weight_decay``) and the class weights as a constant of the step. The
train step is traced once, with an input signature whose batch dimension is unknown, so
the last, shorter batch does not retrace; the trace count is kept and a retrace is an error.
Seeds, op determinism and a seeded shuffle make the same window, spec and seed give the same
weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from r2p.config.schema import ModelSpec
from r2p.training.data import Arrays, class_weights
from r2p.training.early_stopping import Schedule, Stopper
from r2p.training.metrics import classification
from r2p.training.models import Layout, copy_weights, input_width, tf_model, torch_model


class RetraceError(RuntimeError):
    """A tf.function was traced more than once: every batch would rebuild the graph."""


@dataclass
class TfResult:
    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    traces: dict[str, int] = field(default_factory=dict)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.model(x, training=False).numpy()


def _optimizer(spec: ModelSpec, variables: list[Any]) -> Any:
    """Adam (AdamW with ``weight_decay``) or SGD with momentum 0.9, as the PyTorch prototype;
    weight decay is decoupled and leaves biases and norm scales (``ndim < 2``) alone."""
    import keras

    decay = spec.weight_decay or None
    if spec.optimizer == "adam" and decay:
        opt = keras.optimizers.AdamW(
            learning_rate=spec.learning_rate, weight_decay=decay, epsilon=1e-8
        )
    elif spec.optimizer == "adam":
        opt = keras.optimizers.Adam(learning_rate=spec.learning_rate, epsilon=1e-8)
    else:
        opt = keras.optimizers.SGD(
            learning_rate=spec.learning_rate, momentum=0.9, weight_decay=decay
        )
    if decay:
        opt.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) < 2])
    return opt


class GraphTrainer:
    """Owns the model, the optimizer and the traced train and eval steps."""

    def __init__(
        self,
        spec: ModelSpec,
        inputs: int | Layout,
        n_classes: int,
        weights: np.ndarray | None = None,
    ) -> None:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        self.spec, self.traces = spec, {"train_step": 0, "eval_step": 0}
        self.model = tf_model(spec, inputs, n_classes)
        # Start from the prototype's initial weights (same seed, same architecture): the two
        # frameworks then differ only in their arithmetic and dropout masks, so parity can
        # demand that the retrained model is the prototype that was validated.
        copy_weights(spec, torch_model(spec, inputs, n_classes), self.model)
        self.optimizer = _optimizer(spec, self.model.trainable_variables)
        self.class_weights = None if weights is None else tf.constant(weights, tf.float32)
        # Optimizer slots created outside the step: a variable created while tracing makes
        # TensorFlow trace the step a second time.
        self.optimizer.build(self.model.trainable_variables)
        sig = [
            tf.TensorSpec([None, input_width(inputs)], tf.float32),
            tf.TensorSpec([None], tf.int64),
        ]
        self.train_step = tf.function(self._train_step, input_signature=sig)
        self.eval_step = tf.function(self._eval_step, input_signature=sig[:1])

    def _train_step(self, x: Any, y: Any) -> Any:
        import tensorflow as tf

        self.traces["train_step"] += 1  # Python runs only while tracing
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            rows = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            if self.class_weights is not None:  # each row's loss times its class's weight
                rows = rows * tf.gather(self.class_weights, y)
            loss = tf.reduce_mean(rows)
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
        return loss

    def _eval_step(self, x: Any) -> Any:
        self.traces["eval_step"] += 1
        return self.model(x, training=False)

    def set_lr(self, lr: float) -> None:
        """Train at ``lr`` from now on (the step reads the rate variable: no retrace)."""
        self.optimizer.learning_rate.assign(lr)

    @property
    def lr(self) -> float:
        """The rate the optimizer holds now (float32, as the step reads it)."""
        return float(self.optimizer.learning_rate.numpy())

    def check_traces(self) -> None:
        """Raise RetraceError when a step was traced more than once."""
        over = {k: v for k, v in self.traces.items() if v > 1}
        if over:
            raise RetraceError(f"tf.function retraced: {over} (expected one trace each)")


def train_tf(
    spec: ModelSpec,
    data: Arrays,
    positive: int | None = None,
    rates: Sequence[float] | None = None,
    stop_at: int | None = None,
) -> TfResult:
    """Train the spec's model in graph mode for at most ``epochs`` epochs at the rates
    ``lr_schedule`` gives (recorded as ``lr``); stop early on ``early_stopping.monitor`` and
    end with the weights of the best epoch (``best_epoch``), as :func:`train_torch` does.

    ``rates``: the prototype's recorded per-epoch rates, followed for as many epochs as it
    has. ``none`` and ``cosine`` give the same rates anyway; ``plateau`` decides its cuts on
    validation figures, which different dropout masks make differ in their last digits, so
    following the prototype's cuts is what keeps them the same in both frameworks.

    ``stop_at``: the prototype's best epoch. The retrain then trains exactly that many epochs
    plus one and keeps the last: the prototype's early stopping made the decision that was
    validated, and a stopper of its own, reading validation figures that dropout masks make
    differ in their last digits, could keep another epoch (on small data several epochs
    apart, and parity failed for a model that trained the same way)."""
    import tensorflow as tf

    weights = class_weights(spec, data)
    trainer = GraphTrainer(spec, data.pre.layout, data.n_classes, weights)
    x, y = data.x["train"], data.y["train"]
    result = TfResult(trainer.model, traces=trainer.traces)
    best_weights, stopper = None, Stopper(spec, data.y["valid"], data.n_classes)
    schedule = Schedule(spec, stopper)
    epochs = spec.epochs if stop_at is None else min(stop_at + 1, spec.epochs)
    for epoch in range(epochs):
        trainer.set_lr(rates[epoch] if rates and epoch < len(rates) else schedule.rate(epoch))
        order = np.random.default_rng(spec.seed + epoch).permutation(len(y))
        total = 0.0
        for start in range(0, len(order), spec.batch_size):
            idx = order[start : start + spec.batch_size]
            loss = trainer.train_step(tf.constant(x[idx]), tf.constant(y[idx]))
            total += float(loss) * len(idx)
        trainer.check_traces()
        row = {"epoch": epoch, "lr": trainer.lr, "train_loss": total / len(y)}
        if len(data.y["valid"]):
            logits = trainer.eval_step(tf.constant(data.x["valid"])).numpy()
            row.update(
                {
                    f"val_{k}": v
                    for k, v in classification(
                        logits, data.y["valid"], data.n_classes, positive
                    ).items()
                }
            )
        result.history.append(row)
        schedule.observe(row)
        if stop_at is not None:  # the prototype's choice: the last epoch is the one kept
            result.best_epoch = epoch
        elif stopper.improved(epoch, row):
            best_weights, result.best_epoch = trainer.model.get_weights(), epoch
        elif stopper.stop:
            break
    if best_weights is not None:
        trainer.model.set_weights(best_weights)
    trainer.check_traces()
    return result
