"""The serving graph: raw feature values in (one named, typed input per feature); out the
network's logits, the calibrated class probabilities and each row's class index (at the
exported threshold for two classes, the most probable class otherwise). Preprocessing
constants, weights, the calibration and the threshold are all inside, as constants."""

from __future__ import annotations

from typing import Any

from r2p.calibration import Calibration
from r2p.training.preprocess import Preprocessing
from r2p.training.tf_preprocess import encode_tf


def input_specs(pre: Preprocessing, order: list[str]) -> list[tuple[str, str]]:
    """(feature, dtype) in signature order: numbers as float64 (NaN = missing), text as string."""
    categorical = {c.name for c in pre.categorical}
    return [(name, "string" if name in categorical else "float64") for name in order]


def serving_module(
    pre: Preprocessing,
    model: Any,
    order: list[str],
    input_names: list[str] | None = None,
    calibration: Calibration | None = None,
) -> Any:
    """A ``tf.Module`` whose ``serve`` takes the features named ``input_names`` (default:
    ``order``) positionally and feeds them to the features of ``order``; tests swap names to
    prove a wrong order is caught. ``calibration`` (default: none) is applied in the graph."""
    import tensorflow as tf

    cal = calibration or Calibration("none")
    n = len(pre.classes)
    scale = tf.constant(cal.scale, tf.float32)
    bias = tf.constant(cal.bias or [0.0] * n, tf.float32)

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
            proba = tf.nn.softmax(logits * scale + bias, name="probabilities")
            if cal.threshold is not None and cal.positive is not None and n == 2:
                positive = tf.gather(proba, cal.positive, axis=1)
                index = tf.where(
                    positive >= tf.constant(cal.threshold, tf.float32),
                    tf.constant(cal.positive, tf.int64),
                    tf.constant(1 - cal.positive, tf.int64),
                )
            else:
                index = tf.argmax(proba, axis=1, output_type=tf.int64)
            return {
                "logits": tf.identity(logits, name="logits"),
                "probabilities": proba,
                "class_index": tf.identity(index, name="class_index"),
            }

    return Serving()
