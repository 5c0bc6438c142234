"""Numeric inputs are standardised on the training split: every number's encoded train values
have mean 0 and sd 1 (over the rows where it was present), from the NumPy preprocessing the
PyTorch prototype takes and from the TensorFlow graph the exported model runs on raw values;
a preprocessing that does not standardise is refused before training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from r2p.errors import DataError
from r2p.training import preprocess
from r2p.training.tf_preprocess import encode_tf, raw_inputs
from r2p.training_set.split import SPLIT

BOTH = pytest.mark.parametrize("built", ["churn", "fleet"], indirect=True)
TOL = 1e-4


def _assert_standard(pre: preprocess.Preprocessing, x: np.ndarray) -> None:
    got = preprocess.moments(pre, x)
    assert set(got) == {n.name for n in pre.numeric}
    for name, (mean, sd) in got.items():
        assert abs(mean) < TOL and abs(sd - 1) < TOL, (name, mean, sd)


@BOTH
def test_the_encoded_training_split_is_standard_in_numpy_and_in_the_graph(built) -> None:
    from r2p.training_set.load import load_training_set

    _, dataset, data, _ = built
    frame, _ = load_training_set(dataset)
    train = frame[frame[SPLIT] == "train"]
    assert data.pre.numeric and len(train) == len(data.y["train"]) > 30
    _assert_standard(data.pre, data.x["train"])  # what the PyTorch prototype trains on
    graph = encode_tf(data.pre, raw_inputs(data.pre, train)).numpy()  # inside the TF graph
    _assert_standard(data.pre, graph)
    np.testing.assert_allclose(graph, data.x["train"], atol=1e-5)


def test_numbers_with_gaps_large_offsets_and_booleans_are_standard(churn) -> None:
    """A gap is imputed with the mean (0) and flagged; the present values are still mean 0,
    sd 1, for a number far from zero and for a boolean too."""
    rng = np.random.default_rng(3)
    rows = 400
    frame = pd.DataFrame(
        {
            c.name: (
                pd.Series(rng.choice(c.categories, rows), dtype=object)
                if c.dtype == "category"
                else pd.Series(rng.random(rows) < 0.3, dtype=object)
                if c.dtype == "bool"
                else pd.Series(rng.lognormal(12.0, 1.5, rows) + 1e6)
            )
            for c in churn.feature_columns
        }
    )
    number = next(c.name for c in churn.feature_columns if c.dtype == "float64")
    frame.loc[rng.random(rows) < 0.25, number] = np.nan
    pre = preprocess.fit(churn, frame)
    assert number in {n.name for n in pre.indicators}
    numpy_x = preprocess.encode(pre, frame)
    _assert_standard(pre, numpy_x)
    _assert_standard(pre, encode_tf(pre, raw_inputs(pre, frame)).numpy())
    preprocess.check_standardised(pre, numpy_x)


def test_a_preprocessing_that_does_not_standardise_is_refused(churn) -> None:
    rng = np.random.default_rng(4)
    pre = preprocess.Preprocessing(
        (preprocess.Numeric("x", 0.0, 1.0), preprocess.Numeric("flat", 5.0, 1.0)),
        (),
        ("no", "yes"),
    )
    frame = pd.DataFrame({"x": rng.normal(10.0, 3.0, 200), "flat": np.full(200, 5.0)})
    with pytest.raises(DataError, match=r"not standardised on the train split .*'x'"):
        preprocess.check_standardised(pre, preprocess.encode(pre, frame))
    # a constant number encodes as all zeros (sd 0): nothing to scale, not an error
    fitted = preprocess.Preprocessing(
        (
            preprocess.Numeric("x", float(frame["x"].mean()), float(frame["x"].std(ddof=0))),
            pre.numeric[1],
        ),
        (),
        ("no", "yes"),
    )
    preprocess.check_standardised(fitted, preprocess.encode(fitted, frame))
