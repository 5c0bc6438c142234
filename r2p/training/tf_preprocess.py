"""The preprocessing as TensorFlow ops on raw feature values, with constants only.

Categories are compared with ``tf.equal`` against a constant vocabulary (no lookup table:
tables survive freezing as resource ops and the frozen graph cannot run); anything outside the
vocabulary lands in the last one-hot slot. A missing text arrives as the empty string: for a
column with a missing slot it lands there, for one without in the last slot, as before.
Numbers are standardised in float64 and NaN (missing) becomes 0, and the numbers with a missing
indicator get 1.0 where they were NaN, exactly as ``preprocess.encode``.

The ops are vectorised across features (one stack of the numbers, one gather of the
indicators, one comparison of all categories against a padded vocabulary matrix, one gather
into the one-hot layout): the graph has a fixed ~30 ops whatever the feature count, where one
op chain per feature made ~140, and a batch-1 ``Session.run`` costs about the executor's per-op
overhead times the op count. A preprocessing without indicators or missing slots builds the
same graph as before they existed.
"""

from __future__ import annotations

from typing import Any

from r2p.training.preprocess import Preprocessing


def _one_hot_index(pre: Preprocessing, width: int, gap_slot: bool) -> list[int]:
    """Columns of the (features x slots) block that make each feature's one-hot block: its
    vocabulary's slots, its missing slot (when it has one), then the last ("other") slot. A
    feature's slots: ``width`` for the padded vocabulary, one "missing" (only when some feature
    has a missing slot), one "other"."""
    slots = width + 1 + int(gap_slot)
    index: list[int] = []
    for i, c in enumerate(pre.categorical):
        start = i * slots
        index += [start + j for j in range(len(c.vocab))]
        index += [start + width] if c.missing else []
        index += [start + slots - 1]
    return index


def encode_tf(pre: Preprocessing, inputs: dict[str, Any]) -> Any:
    """The encoded (batch, input_dim) float32 matrix from raw ``inputs`` (name -> 1-D tensor)."""
    import tensorflow as tf

    parts = []
    if pre.numeric:
        x = tf.stack([tf.cast(inputs[n.name], tf.float64) for n in pre.numeric], axis=1)
        mean = tf.constant([n.mean for n in pre.numeric], tf.float64)
        std = tf.constant([n.std for n in pre.numeric], tf.float64)
        z = (x - mean) / std
        parts.append(tf.where(tf.math.is_nan(z), tf.constant(0.0, tf.float64), z))
        if pre.indicators:
            flagged = [i for i, n in enumerate(pre.numeric) if n.indicator]
            gaps = tf.cast(tf.math.is_nan(x), tf.float64)
            parts.append(tf.gather(gaps, flagged, axis=1))
    if pre.categorical:
        width = max(len(c.vocab) for c in pre.categorical)
        # Vocabularies padded to one width; the mask zeroes the padding's slots whatever the
        # input, so a padding value can never count as a hit.
        vocab = [list(c.vocab) + [""] * (width - len(c.vocab)) for c in pre.categorical]
        mask = [[1.0] * len(c.vocab) + [0.0] * (width - len(c.vocab)) for c in pre.categorical]
        values = tf.stack([inputs[c.name] for c in pre.categorical], axis=1)[:, :, None]
        hits = tf.cast(tf.equal(values, tf.constant([vocab], tf.string)), tf.float64)
        hits = hits * tf.constant([mask], tf.float64)  # (batch, features, width)
        other = 1.0 - tf.reduce_sum(hits, axis=2, keepdims=True)  # vocabularies are unique
        slots = [hits, other]
        gap_slot = any(c.missing for c in pre.categorical)
        if gap_slot:
            # "" is missing for the columns with a missing slot (their vocabularies never
            # hold ""); the mask leaves the others' "" in their "other" slot, as before.
            has_slot = tf.constant([[[float(c.missing)] for c in pre.categorical]], tf.float64)
            gap = tf.cast(tf.equal(values, ""), tf.float64) * has_slot
            slots = [hits, gap, other - gap]
        block = tf.reshape(tf.concat(slots, axis=2), [-1, len(vocab) * (width + 1 + int(gap_slot))])
        parts.append(tf.gather(block, _one_hot_index(pre, width, gap_slot), axis=1))
    return tf.cast(tf.concat(parts, axis=1), tf.float32)


def raw_inputs(pre: Preprocessing, frame: Any) -> dict[str, Any]:
    """Raw feature columns of a pandas frame as the tensors ``encode_tf`` takes (a missing
    number as NaN, a missing text as "", as the serving graph receives them)."""
    import numpy as np
    import tensorflow as tf

    from r2p.training.preprocess import numbers

    out = {n.name: tf.constant(numbers(frame[n.name])) for n in pre.numeric}
    for c in pre.categorical:
        values = [v if isinstance(v, str) else "" for v in frame[c.name].astype(object)]
        out[c.name] = tf.constant(np.array(values, dtype=object), tf.string)
    return out
