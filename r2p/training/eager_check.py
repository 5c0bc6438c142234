"""The eager check, before any graph is traced: one batch through the TF model eagerly.

Logits must be float32 of shape (batch, n_classes), the loss a float32 scalar, and both must
have the same shapes as PyTorch's for the same batch; otherwise it stops with both shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from r2p.config.schema import ModelSpec
from r2p.errors import DataError
from r2p.training.data import Arrays


class ModelSpecError(DataError):
    """The built models do not produce what the spec implies (not retried: fix the spec)."""


def eager_check(
    spec: ModelSpec, data: Arrays, tf_model: Any = None, torch_model: Any = None, batch: int = 32
) -> dict[str, Any]:
    """Compare one batch's logits and loss with the spec and with PyTorch, eagerly."""
    import tensorflow as tf
    import torch

    from r2p.training import models

    if tf.executing_eagerly() is False:
        raise ModelSpecError("the eager check must run eagerly, before any tf.function")
    x, y = data.x["train"][:batch], data.y["train"][:batch]
    tf_model = tf_model or models.tf_model(spec, data.pre.layout, data.n_classes)
    torch_model = torch_model or models.torch_model(spec, data.pre.layout, data.n_classes)
    tf_logits = tf_model(tf.constant(x), training=False)
    tf_loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(y), logits=tf_logits)
    )
    torch_model.eval()
    with torch.no_grad():
        th_logits = torch_model(torch.from_numpy(x))
        th_loss = torch.nn.functional.cross_entropy(th_logits, torch.from_numpy(y))
    seen = {
        "expected": {"logits": [len(x), data.n_classes], "dtype": "float32", "loss": []},
        "tensorflow": {
            "logits": list(tf_logits.shape),
            "dtype": tf_logits.dtype.name,
            "loss": list(tf_loss.shape),
            "loss_dtype": tf_loss.dtype.name,
        },
        "pytorch": {
            "logits": list(th_logits.shape),
            "dtype": str(th_logits.dtype)[6:],
            "loss": list(th_loss.shape),
            "loss_dtype": str(th_loss.dtype)[6:],
        },
    }
    problems = []
    for fw in ("tensorflow", "pytorch"):
        got = seen[fw]
        if got["logits"] != seen["expected"]["logits"] or got["dtype"] != "float32":
            problems.append(f"{fw} logits {got['dtype']}{got['logits']}")
        if got["loss"] != [] or got["loss_dtype"] != "float32":
            problems.append(f"{fw} loss {got['loss_dtype']}{got['loss']}")
    if not np.isfinite(float(tf_loss)) or not np.isfinite(float(th_loss)):
        problems.append(f"non-finite loss: tensorflow {float(tf_loss)}, pytorch {float(th_loss)}")
    if problems:
        raise ModelSpecError(
            f"eager check failed for model {spec.name!r}: expected logits float32"
            f"{seen['expected']['logits']} and a float32 scalar loss; got {'; '.join(problems)} "
            f"(tensorflow {seen['tensorflow']}, pytorch {seen['pytorch']})"
        )
    return {**seen, "tf_loss": float(tf_loss), "torch_loss": float(th_loss)}
