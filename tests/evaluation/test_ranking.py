"""Ranking candidates on validation, from hand-made retrain records: direction of the metric,
NaN last, ties in config order, the multiclass names, the fallbacks and what they say."""

from __future__ import annotations

import math

import pytest

from r2p.evaluation.ranking import rank, record_metric

NAN = math.nan


def _rec(valid: dict | None = None, test: dict | None = None) -> dict:
    metrics = {}
    if valid is not None:
        metrics["valid"] = valid
    if test is not None:
        metrics["test"] = test
    return {"metrics": metrics}


def _models(records: list[tuple[str, dict]], metric: str, order: list[str], n: int = 2):
    r = rank(records, metric, n, order)
    return [records[i][0] for i in r.order], r


def test_higher_is_better_ranks_the_largest_first() -> None:
    records = [("a", _rec({"roc_auc": 0.71})), ("b", _rec({"roc_auc": 0.84}))]
    best, r = _models(records, "roc_auc", ["a", "b"])
    assert best == ["b", "a"] and r.metric == "roc_auc" and r.split == "valid"
    assert r.ranks == {1: 1, 0: 2} and r.values == (0.71, 0.84) and r.notes == ()


def test_lower_is_better_ranks_the_smallest_first() -> None:
    records = [("a", _rec({"log_loss": 0.52})), ("b", _rec({"log_loss": 0.31}))]
    assert _models(records, "log_loss", ["a", "b"])[0] == ["b", "a"]


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_nan_and_missing_values_rank_last(metric: str) -> None:
    records = [
        ("nan", _rec({metric: NAN})),
        ("missing", _rec({"accuracy": 0.9})),
        ("good", _rec({metric: 0.8})),
        ("better", _rec({metric: 0.2 if metric == "log_loss" else 0.9})),
    ]
    best, r = _models(records, metric, ["nan", "missing", "good", "better"])
    assert best == ["better", "good", "nan", "missing"]
    assert math.isnan(r.values[0]) and math.isnan(r.values[1])


def test_ties_go_to_config_order_whatever_order_they_come_in() -> None:
    records = [
        ("c", _rec({"roc_auc": 0.8})),
        ("b", _rec({"roc_auc": 0.8})),
        ("a", _rec({"roc_auc": 0.8})),
        ("x", _rec({"roc_auc": 0.8})),  # not in the config: after the configured ones
    ]
    assert _models(records, "roc_auc", ["a", "b", "c"])[0] == ["a", "b", "c", "x"]
    nans = [(name, _rec({"roc_auc": NAN})) for name in ("c", "a", "b")]
    assert _models(nans, "roc_auc", ["a", "b", "c"])[0] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("metric", "n_classes", "name", "says"),
    [
        pytest.param("roc_auc", 2, "roc_auc", "", id="binary-roc_auc"),
        pytest.param("f1", 2, "f1", "", id="binary-f1"),
        pytest.param("roc_auc", 3, "roc_auc_macro", "", id="multiclass-roc_auc"),
        pytest.param("f1", 5, "f1_macro", "", id="multiclass-f1"),
        pytest.param("accuracy", 3, "accuracy", "", id="multiclass-accuracy"),
        pytest.param("log_loss", 3, "log_loss", "", id="multiclass-log_loss"),
        pytest.param("precision", 2, "log_loss", "no precision", id="precision"),
        pytest.param("recall", 3, "log_loss", "no recall", id="recall"),
    ],
)
def test_gate_metric_names_in_retrain_records(
    metric: str, n_classes: int, name: str, says: str
) -> None:
    got, note = record_metric(metric, n_classes)
    assert got == name and (says in note if says else note == "")


def test_multiclass_ranks_by_the_macro_figures() -> None:
    records = [
        ("a", _rec({"roc_auc_macro": 0.61, "f1_macro": 0.7})),
        ("b", _rec({"roc_auc_macro": 0.66, "f1_macro": 0.5})),
    ]
    best, r = _models(records, "roc_auc", ["a", "b"], n=3)
    assert best == ["b", "a"] and r.metric == "roc_auc_macro"
    assert _models(records, "f1", ["a", "b"], n=3)[0] == ["a", "b"]


def test_precision_ranks_by_log_loss_lowest_first_and_says_so() -> None:
    records = [("a", _rec({"log_loss": 0.4})), ("b", _rec({"log_loss": 0.3}))]
    best, r = _models(records, "precision", ["a", "b"])
    assert best == ["b", "a"] and r.metric == "log_loss"
    assert r.notes == ("the retrain records have no precision: ranked by log_loss",)


def test_an_empty_validation_split_ranks_on_test_and_says_so() -> None:
    records = [("a", _rec(test={"roc_auc": 0.9})), ("b", _rec(test={"roc_auc": 0.7}))]
    best, r = _models(records, "roc_auc", ["a", "b"])
    assert best == ["a", "b"] and r.split == "test"
    assert r.notes == ("the validation split is empty: ranked on the test split",)
