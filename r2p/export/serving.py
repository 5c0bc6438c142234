"""The serving graph: raw feature values in (one named, typed input per feature), logits and
class probabilities out. Preprocessing constants and weights are all inside."""

from __future__ import annotations

from typing import Any

from r2p.training.preprocess import Preprocessing
from r2p.training.tf_preprocess import encode_tf


def input_specs(pre: Preprocessing, order: list[str]) -> list[tuple[str, str]]:
    """(feature, dtype) in signature order: numbers as float64 (NaN = missing), text as string."""
    categorical = {c.name for c in pre.categorical}
    return [(name, "string" if name in categorical else "float64") for name in order]


def serving_module(
    pre: Preprocessing, model: Any, order: list[str], input_names: list[str] | None = None
) -> Any:
    """A ``tf.Module`` whose ``serve`` takes the features named ``input_names`` (default:
    ``order``) positionally and feeds them to the features of ``order``; tests swap names to
    prove a wrong order is caught."""
    import tensorflow as tf

    names = input_names or order
    specs = [
        tf.TensorSpec([None], tf.string if dtype == "string" else tf.float64, name=n)
        for n, (_, dtype) in zip(names, input_specs(pre, order), strict=True)
    ]

    class Serving(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="r2p_serving")
            self.model = model

        @tf.function(input_signature=specs)
        def serve(self, *features: Any) -> dict[str, Any]:
            logits = self.model(
                encode_tf(pre, dict(zip(order, features, strict=True))), training=False
            )
            return {
                "logits": tf.identity(logits, name="logits"),
                "probabilities": tf.nn.softmax(logits, name="probabilities"),
            }

    return Serving()
