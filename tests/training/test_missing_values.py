"""Missing values are data: numeric gaps imputed with a missing indicator, categorical gaps in
their own slot (apart from unseen categories), the same matrix from NumPy and from the TF ops
on raw values, and stored preprocessing JSON from before still loads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from r2p.config.schema import PipelineConfig
from r2p.training import preprocess
from r2p.training.tf_preprocess import encode_tf, raw_inputs

NULLABLE = {"monthly_fee", "tenure_days", "age", "autopay", "plan", "region"}
ROWS = 300


def _nullable(cfg: PipelineConfig, names: set[str]) -> PipelineConfig:
    data = cfg.model_dump()
    for source in data["dataset"]["sources"]:
        for col in source["columns"]:
            col["nullable"] = col["name"] in names
    return PipelineConfig.model_validate(data)


def _frame(cfg: PipelineConfig, rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Raw feature columns as the training set holds them (parquet read by pandas): numbers as
    float64 (an integer column with gaps reads as floats), booleans with gaps as objects."""
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {}
    for col in cfg.feature_columns:
        if col.dtype == "category":
            out[col.name] = pd.Series(rng.choice(col.categories, rows), dtype=object)
        elif col.dtype == "bool":
            out[col.name] = pd.Series(rng.random(rows) < 0.4, dtype=object)
        else:
            out[col.name] = rng.normal(50.0, 10.0, rows)
    out[cfg.dataset.label.column] = rng.choice(cfg.dataset.label.classes, rows)
    return pd.DataFrame(out)


def _with_gaps(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """Gaps in monthly_fee, tenure_days (numbers), autopay (bool) and plan (category); age and
    region are declared nullable but have no gap; the rest are neither."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    for name in ("monthly_fee", "tenure_days", "autopay", "plan"):
        gaps = rng.random(len(frame)) < 0.2
        frame[name] = frame[name].astype(object if name in ("autopay", "plan") else "float64")
        frame.loc[gaps, name] = np.nan if name in ("monthly_fee", "tenure_days") else None
    return frame


@pytest.fixture
def fitted(churn):
    cfg = _nullable(churn, NULLABLE)
    train = _with_gaps(_frame(cfg))
    return cfg, train, preprocess.fit(cfg, train)


def _assert_same(pre: preprocess.Preprocessing, frame: pd.DataFrame) -> np.ndarray:
    expected = preprocess.encode(pre, frame)
    got = encode_tf(pre, raw_inputs(pre, frame)).numpy()
    assert got.shape == expected.shape == (len(frame), pre.input_dim)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    return expected


def test_nullable_or_gappy_columns_get_indicators_and_missing_slots(fitted, churn) -> None:
    _, train, pre = fitted
    flags = {n.name: n.indicator for n in pre.numeric}
    assert flags["monthly_fee"] and flags["tenure_days"] and flags["age"] and flags["autopay"]
    assert not flags["session_minutes"] and not flags["pages_viewed"]
    slots = {c.name: c.missing for c in pre.categorical}
    assert slots["plan"] and slots["region"] and not slots["device"] and not slots["channel"]
    # A gap in the train split alone is enough (the column is not declared nullable).
    gappy = preprocess.fit(churn, train)
    assert {n.name for n in gappy.indicators} == {"monthly_fee", "tenure_days", "autopay"}
    assert [c.name for c in gappy.categorical if c.missing] == ["plan"]
    # Neither nullable nor gappy: exactly the encoding from before (same input width).
    plain = preprocess.fit(churn, _frame(churn))
    assert not plain.indicators and not any(c.missing for c in plain.categorical)
    assert plain.input_dim == len(plain.numeric) + sum(len(c.vocab) + 1 for c in plain.categorical)
    assert pre.input_dim == plain.input_dim + 4 + 2  # four indicators, two missing slots


def test_numpy_and_tf_encodings_agree_on_gaps_unseen_and_empty_strings(fitted) -> None:
    cfg, train, pre = fitted
    frame = _with_gaps(_frame(cfg, rows=60, seed=7), seed=8)
    frame.loc[0, "plan"] = "never-seen"  # unseen, missing-slot column
    frame.loc[1, "plan"] = ""  # the graph's missing text, from pandas too
    frame.loc[2, "plan"] = np.nan
    frame.loc[3, "device"] = None  # gap in a column without a missing slot: "other"
    frame.loc[4, "device"] = "never-seen"
    frame.loc[5, "age"] = np.nan  # nullable without train gaps: indicator 1, imputed
    frame.loc[6, ["monthly_fee", "tenure_days", "age", "session_minutes"]] = np.nan
    frame.loc[7, "autopay"] = None
    frame.loc[8, "region"] = None
    _assert_same(pre, train)
    got = _assert_same(pre, frame)

    n = len(pre.numeric)
    names = [x.name for x in pre.numeric]
    for k, ind in enumerate(pre.indicators):  # indicators follow all the numbers
        gaps = frame[ind.name].isna().to_numpy()
        assert gaps.any() or ind.name == "region"
        np.testing.assert_array_equal(got[:, n + k], gaps.astype(np.float32))
        imputed = got[gaps, names.index(ind.name)]
        assert (imputed == 0.0).all()  # the train mean, standardised
    assert got[6, names.index("session_minutes")] == 0.0  # imputed, no indicator either

    def block(name: str) -> np.ndarray:
        start = n + len(pre.indicators)
        for c in pre.categorical:
            if c.name == name:
                return got[:, start : start + c.width]
            start += c.width
        raise KeyError(name)

    plan = next(c for c in pre.categorical if c.name == "plan")
    missing, other = len(plan.vocab), plan.width - 1
    assert missing != other
    assert block("plan")[0].argmax() == other  # unseen
    assert block("plan")[1].argmax() == missing == block("plan")[2].argmax()  # "" and NaN
    for i in frame.index[frame["plan"].isna()]:
        assert block("plan")[i, missing] == 1.0 and block("plan")[i].sum() == 1.0
    region = next(c for c in pre.categorical if c.name == "region")
    assert block("region")[8, len(region.vocab)] == 1.0
    device = next(c for c in pre.categorical if c.name == "device")
    assert device.width == len(device.vocab) + 1
    assert block("device")[3, -1] == 1.0 == block("device")[4, -1]  # as before: "other"


def test_nullable_booleans_with_gaps_in_any_pandas_dtype(fitted) -> None:
    cfg, _, pre = fitted
    frame = _frame(cfg, rows=6, seed=3)
    values = [True, None, False, True, None, False]
    i = len(pre.numeric) + [x.name for x in pre.indicators].index("autopay")
    j = [x.name for x in pre.numeric].index("autopay")
    expected = None
    for series in (
        pd.Series(values, dtype=object),
        pd.Series(values, dtype="boolean"),  # pandas' nullable boolean (pd.NA)
        pd.Series([pd.NA if v is None else v for v in values], dtype=object),
        pd.Series([np.nan if v is None else float(v) for v in values]),  # as served: floats
    ):
        frame["autopay"] = series
        got = _assert_same(pre, frame)
        assert got[:, i].tolist() == [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
        assert got[1, j] == 0.0 and got[0, j] != got[2, j]
        if expected is not None:
            np.testing.assert_array_equal(got, expected)
        expected = got


def test_preprocessing_json_round_trips_and_old_json_still_loads(fitted) -> None:
    import json

    _, _, pre = fitted
    data = json.loads(json.dumps(pre.as_json()))
    assert preprocess.Preprocessing.from_json(data) == pre
    assert any(n["indicator"] for n in data["numeric"])
    assert any(c["missing"] for c in data["categorical"])
    old = {  # as stored models carry it, from before indicators and missing slots
        "numeric": [{"name": "x", "mean": 1.0, "std": 2.0}],
        "categorical": [{"name": "c", "vocab": ["a", "b"]}],
        "classes": ["no", "yes"],
    }
    loaded = preprocess.Preprocessing.from_json(old)
    assert loaded == preprocess.Preprocessing(
        (preprocess.Numeric("x", 1.0, 2.0),),
        (preprocess.Categorical("c", ("a", "b")),),
        ("no", "yes"),
    )
    assert not loaded.indicators and loaded.categorical[0].width == 3 and loaded.input_dim == 4
    frame = pd.DataFrame({"x": [np.nan, 3.0], "c": [None, "a"]})
    got = _assert_same(loaded, frame)
    assert got.tolist() == [[0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]  # as before


def test_the_graph_with_gaps_does_not_grow_with_the_feature_count() -> None:
    import tensorflow as tf

    def ops(n: int) -> int:
        pre = preprocess.Preprocessing(
            tuple(preprocess.Numeric(f"x{i}", 1.0, 2.0, i % 2 == 0) for i in range(n)),
            tuple(
                preprocess.Categorical(f"c{i}", ("a", "b")[: i % 3], i % 2 == 1) for i in range(n)
            ),
            ("no", "yes"),
        )
        graph = tf.Graph()
        with graph.as_default():
            inputs = {f"x{i}": tf.compat.v1.placeholder(tf.float64, [None]) for i in range(n)}
            inputs |= {f"c{i}": tf.compat.v1.placeholder(tf.string, [None]) for i in range(n)}
            encode_tf(pre, inputs)
        return len([op for op in graph.get_operations() if op.type != "Placeholder"])

    assert ops(20) == ops(2) < 50
