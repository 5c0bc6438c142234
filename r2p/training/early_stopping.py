"""Epoch-level control, the same for both trainers: early stopping and the learning rate.

The figure ``early_stopping.monitor`` names, read from each epoch's history row, decides the
best epoch and when to stop (:class:`Stopper`); :class:`Schedule` gives each epoch's learning
rate (``lr_schedule``), so PyTorch and TensorFlow train every epoch at the same rate.

``val_loss`` minimises the validation log loss, ``val_auc`` maximises the validation ROC AUC
(``roc_auc`` for two classes, ``roc_auc_macro`` one-vs-rest for more), both as
:func:`r2p.training.metrics.classification` records them. With no validation rows the
training loss is minimised, whatever the monitor.
"""

from __future__ import annotations

import math
from typing import Any

from r2p.errors import DataError

MIN_DELTA = 1e-6  # an epoch is better only by more than this
# ``plateau``: an epoch counts as progress only when it beats the best by this fraction of it
# (PyTorch's ReduceLROnPlateau default): the two frameworks' figures differ in their last
# digits, and a smaller step is where their decisions to cut could part
PLATEAU_THRESHOLD = 1e-4


def better(value: float, best: float, higher: bool) -> bool:
    """Whether ``value`` improves on ``best`` by more than :data:`MIN_DELTA`."""
    return value > best + MIN_DELTA if higher else value < best - MIN_DELTA


class MonitorError(DataError):
    """The monitored figure cannot be computed on this data (not retried: fix the config)."""


def monitor_key(monitor: str, n_classes: int) -> tuple[str, bool]:
    """(the history key ``monitor`` reads, whether higher is better)."""
    if monitor == "val_auc":
        return ("val_roc_auc" if n_classes == 2 else "val_roc_auc_macro"), True
    return "val_log_loss", False


class Stopper:
    """Tracks the best epoch of the monitored figure and the epochs waited since."""

    def __init__(self, spec: Any, y_valid: Any, n_classes: int) -> None:
        self.patience = spec.early_stopping.patience
        self.key, self.higher = monitor_key(spec.early_stopping.monitor, n_classes)
        if not len(y_valid):
            self.key, self.higher = "train_loss", False
        elif self.higher and len(set(y_valid.tolist())) < n_classes:
            raise MonitorError(
                f"model {spec.name!r}: early_stopping.monitor val_auc needs every class in "
                f"the validation split, which has {len(set(y_valid.tolist()))} of {n_classes}:"
                " monitor val_loss, or widen training.split"
            )
        self.best = -math.inf if self.higher else math.inf
        self.best_epoch, self.waited = 0, 0

    def improved(self, epoch: int, row: dict[str, float]) -> bool:
        """Record ``row`` (epoch ``epoch``); True when it is the best so far."""
        value = row[self.key]
        improved = better(value, self.best, self.higher)
        if improved:
            self.best, self.best_epoch, self.waited = value, epoch, 0
        else:
            self.waited += 1
        return improved

    @property
    def stop(self) -> bool:
        """Whether ``patience`` epochs in a row brought no improvement."""
        return self.waited >= self.patience


class Schedule:
    """The learning rate of each epoch, as ``lr_schedule`` says.

    ``none``: ``learning_rate`` throughout. ``cosine``: epoch ``e`` of ``E = epochs`` trains
    at ``min + (lr - min) * (1 + cos(pi * e / E)) / 2`` (PyTorch's ``CosineAnnealingLR``
    with ``T_max = epochs``, stepped per epoch). ``plateau``: after ``lr_plateau.patience``
    epochs in a row without improving the figure the :class:`Stopper` watches, the rate is
    multiplied by ``lr_plateau.factor`` (not below ``min_learning_rate``) and the count
    starts again (PyTorch's ``ReduceLROnPlateau``, relative threshold
    :data:`PLATEAU_THRESHOLD`, counting as Keras' does: ``patience`` bad epochs cut).
    """

    def __init__(self, spec: Any, stopper: Stopper) -> None:
        self.spec, self.key, self.higher = spec, stopper.key, stopper.higher
        self.lr = float(spec.learning_rate)
        self.best = -math.inf if self.higher else math.inf
        self.waited = 0

    def rate(self, epoch: int) -> float:
        """The learning rate to train epoch ``epoch`` (from 0) at."""
        spec = self.spec
        if spec.lr_schedule == "cosine":
            low, top = spec.min_learning_rate, spec.learning_rate
            return low + (top - low) * (1 + math.cos(math.pi * epoch / spec.epochs)) / 2
        return self.lr

    def observe(self, row: dict[str, float]) -> None:
        """Take in an epoch's history row (``plateau`` only: it may cut the rate)."""
        if self.spec.lr_schedule != "plateau":
            return
        value = row[self.key]  # log loss, AUC: never negative, so the scaled best is the bar
        bar = self.best * (1 + PLATEAU_THRESHOLD if self.higher else 1 - PLATEAU_THRESHOLD)
        if better(value, bar, self.higher):
            self.best, self.waited = value, 0
            return
        self.waited += 1
        if self.waited >= self.spec.lr_plateau.patience:
            self.lr = max(self.lr * self.spec.lr_plateau.factor, self.spec.min_learning_rate)
            self.waited = 0
