"""The preprocessing as TensorFlow ops on raw feature values, with constants only.

Categories are compared with ``tf.equal`` against a constant vocabulary (no lookup table:
tables survive freezing as resource ops and the frozen graph cannot run); anything outside the
vocabulary, or an empty string for a missing value, lands in the last one-hot slot. Numbers
are standardised in float64 and NaN (missing) becomes 0, exactly as ``preprocess.encode``.
"""

from __future__ import annotations

from typing import Any

from r2p.training.preprocess import Preprocessing


def encode_tf(pre: Preprocessing, inputs: dict[str, Any]) -> Any:
    """The encoded (batch, input_dim) float32 matrix from raw ``inputs`` (name -> 1-D tensor)."""
    import tensorflow as tf

    parts = []
    for n in pre.numeric:
        x = tf.cast(inputs[n.name], tf.float64)
        z = (x - tf.constant(n.mean, tf.float64)) / tf.constant(n.std, tf.float64)
        parts.append(tf.where(tf.math.is_nan(z), tf.zeros_like(z), z)[:, None])
    for c in pre.categorical:
        values = tf.reshape(inputs[c.name], [-1, 1])
        hits = tf.cast(tf.equal(values, tf.constant([list(c.vocab)], tf.string)), tf.float64)
        pad = tf.zeros(tf.stack([tf.shape(values)[0], 1]), tf.float64)  # empty vocabularies too
        other = 1.0 - tf.reduce_max(tf.concat([hits, pad], 1), axis=1)
        parts.append(tf.concat([hits, other[:, None]], axis=1))
    return tf.cast(tf.concat(parts, axis=1), tf.float32)


def raw_inputs(pre: Preprocessing, frame: Any) -> dict[str, Any]:
    """Raw feature columns of a pandas frame as the tensors ``encode_tf`` takes."""
    import numpy as np
    import tensorflow as tf

    out = {n.name: tf.constant(frame[n.name].astype("float64").to_numpy()) for n in pre.numeric}
    for c in pre.categorical:
        values = [v if isinstance(v, str) else "" for v in frame[c.name].astype(object)]
        out[c.name] = tf.constant(np.array(values, dtype=object), tf.string)
    return out
