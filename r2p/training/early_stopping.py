"""Early stopping, the same for both trainers: the figure ``early_stopping.monitor`` names,
read from each epoch's history row, decides the best epoch and when to stop.

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
        better = value > self.best + MIN_DELTA if self.higher else value < self.best - MIN_DELTA
        if better:
            self.best, self.best_epoch, self.waited = value, epoch, 0
        else:
            self.waited += 1
        return better

    @property
    def stop(self) -> bool:
        """Whether ``patience`` epochs in a row brought no improvement."""
        return self.waited >= self.patience
