"""The PyTorch prototype trainer: seeded mini-batch training with early stopping."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from r2p.config.schema import ModelSpec
from r2p.training.data import Arrays
from r2p.training.early_stopping import Stopper
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


def _optimizer(spec: ModelSpec, params: Any) -> Any:
    import torch

    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.learning_rate)
    return torch.optim.SGD(params, lr=spec.learning_rate, momentum=0.9)


def train_torch(spec: ModelSpec, data: Arrays, positive: int | None = None) -> TorchResult:
    """Train the spec's model on ``data['train']``; stop early on ``early_stopping.monitor``
    and end with the weights of the best epoch (``best_epoch``)."""
    import torch

    torch.manual_seed(spec.seed)
    torch.use_deterministic_algorithms(True)
    model = torch_model(spec, data.pre.input_dim, data.n_classes)
    opt = _optimizer(spec, model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(data.x["train"]), torch.from_numpy(data.y["train"])
    result, best_state = TorchResult(model), None
    stopper = Stopper(spec, data.y["valid"], data.n_classes)
    for epoch in range(spec.epochs):
        model.train()
        order = np.random.default_rng(spec.seed + epoch).permutation(len(y))
        total = 0.0
        for start in range(0, len(order), spec.batch_size):
            idx = torch.from_numpy(order[start : start + spec.batch_size])
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        row = {"epoch": epoch, "train_loss": total / len(y)}
        row.update(
            {
                f"val_{k}": v
                for k, v in classification(
                    result.logits(data.x["valid"]), data.y["valid"], data.n_classes, positive
                ).items()
            }
            if len(data.y["valid"])
            else {}
        )
        result.history.append(row)
        if stopper.improved(epoch, row):
            best_state, result.best_epoch = copy.deepcopy(model.state_dict()), epoch
        elif stopper.stop:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return result
