"""The PyTorch prototype trainer: seeded mini-batch training with early stopping, a
learning-rate schedule, decoupled weight decay and class weights (as the TensorFlow retrain).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from r2p.config.schema import ModelSpec
from r2p.training.data import Arrays, class_weights
from r2p.training.early_stopping import Schedule, Stopper
from r2p.training.metrics import classification
from r2p.training.models import torch_model


@dataclass
class TorchResult:
    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0

    def logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        self.model.eval()
        with torch.no_grad():
            return self.model(torch.from_numpy(x)).numpy()


class Optimizer:
    """The spec's optimizer: Adam (AdamW with ``weight_decay``) or SGD with momentum 0.9.

    Weight decay is decoupled and shrinks weight matrices only (``ndim >= 2``), as
    ``keras.optimizers.AdamW`` with biases and norm scales excluded; for SGD the same
    decoupled shrink is applied before each step (``torch.optim.SGD``'s own is an L2 term).
    """

    def __init__(self, spec: ModelSpec, model: Any) -> None:
        import torch

        params = list(model.parameters())
        self.decayed = [p for p in params if p.ndim >= 2]
        self.spec, self.lr = spec, spec.learning_rate
        if spec.optimizer == "adam" and spec.weight_decay:
            rest = [p for p in params if p.ndim < 2]
            groups = [
                {"params": self.decayed, "weight_decay": spec.weight_decay},
                {"params": rest, "weight_decay": 0.0},
            ]
            self.opt = torch.optim.AdamW(groups, lr=spec.learning_rate)
        elif spec.optimizer == "adam":
            self.opt = torch.optim.Adam(params, lr=spec.learning_rate)
        else:
            self.opt = torch.optim.SGD(params, lr=spec.learning_rate, momentum=0.9)

    def set_lr(self, lr: float) -> None:
        """Train at ``lr`` from now on. SGD's momentum buffers are rescaled by old/new: Keras
        folds the rate into its velocity, PyTorch applies it to the buffer, and the rescale
        makes the two the same update when the rate changes."""
        if lr != self.lr and self.spec.optimizer == "sgd":
            for state in self.opt.state.values():
                if state.get("momentum_buffer") is not None:
                    state["momentum_buffer"].mul_(self.lr / lr)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.lr = lr

    def step(self) -> None:
        """One update from the gradients in place (after the decoupled decay, for SGD)."""
        import torch

        if self.spec.optimizer == "sgd" and self.spec.weight_decay:
            with torch.no_grad():
                for p in self.decayed:
                    p.mul_(1 - self.lr * self.spec.weight_decay)
        self.opt.step()


def loss_fn(weights: np.ndarray | None) -> Any:
    """Mean softmax cross-entropy of a batch; with class ``weights``, each row's loss times
    its class's weight, then the mean over the batch's rows (as Keras' sample weights)."""
    import torch
    from torch.nn import functional

    if weights is None:
        return torch.nn.CrossEntropyLoss()
    w = torch.from_numpy(weights)

    def weighted(logits: Any, y: Any) -> Any:
        return (functional.cross_entropy(logits, y, reduction="none") * w[y]).mean()

    return weighted


def train_torch(spec: ModelSpec, data: Arrays, positive: int | None = None) -> TorchResult:
    """Train the spec's model on ``data['train']`` for at most ``epochs`` epochs, each at the
    rate ``lr_schedule`` gives (recorded as ``lr``); stop early on ``early_stopping.monitor``
    and end with the weights of the best epoch (``best_epoch``)."""
    import torch

    torch.manual_seed(spec.seed)
    torch.use_deterministic_algorithms(True)
    model = torch_model(spec, data.pre.layout, data.n_classes)
    opt = Optimizer(spec, model)
    loss = loss_fn(class_weights(spec, data))
    x, y = torch.from_numpy(data.x["train"]), torch.from_numpy(data.y["train"])
    result, best_state = TorchResult(model), None
    stopper = Stopper(spec, data.y["valid"], data.n_classes)
    schedule = Schedule(spec, stopper)
    for epoch in range(spec.epochs):
        opt.set_lr(schedule.rate(epoch))
        model.train()
        order = np.random.default_rng(spec.seed + epoch).permutation(len(y))
        total = 0.0
        for start in range(0, len(order), spec.batch_size):
            idx = torch.from_numpy(order[start : start + spec.batch_size])
            opt.opt.zero_grad()
            batch_loss = loss(model(x[idx]), y[idx])
            batch_loss.backward()
            opt.step()
            total += batch_loss.item() * len(idx)
        row = {"epoch": epoch, "lr": float(opt.opt.param_groups[0]["lr"])}
        row["train_loss"] = total / len(y)
        if len(data.y["valid"]):
            figures = classification(
                result.logits(data.x["valid"]), data.y["valid"], data.n_classes, positive
            )
            row.update({f"val_{k}": v for k, v in figures.items()})
        result.history.append(row)
        schedule.observe(row)
        if stopper.improved(epoch, row):
            best_state, result.best_epoch = copy.deepcopy(model.state_dict()), epoch
        elif stopper.stop:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return result
