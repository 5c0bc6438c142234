"""The sample data has real signal, drift that matters, and is the same for the same seed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from r2p.config import PipelineConfig, load_pipeline
from r2p.sample.generator import Generator

DAY = dt.date(2026, 11, 2)
TRAIN_DAYS = [DAY + dt.timedelta(d) for d in range(3)]
TEST_DAYS = [DAY + dt.timedelta(d) for d in range(10, 12)]


def _frame(gen: Generator, days: list[dt.date], drift: bool = False) -> pd.DataFrame:
    return pd.concat([gen.training_frame(d, drift) for d in days], ignore_index=True)


def _fit(cfg: PipelineConfig, df: pd.DataFrame):
    cat = [c.name for c in cfg.feature_columns if c.dtype == "category"]
    num = [c.name for c in cfg.feature_columns if c.dtype != "category"]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), cat), ("num", StandardScaler(), num)]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=3000))
    return model.fit(df[cat + num].astype({c: float for c in num}), df[cfg.dataset.label.column])


def _auc(cfg: PipelineConfig, model, df: pd.DataFrame) -> float:
    x = df[[c.name for c in cfg.feature_columns]]
    proba = model.predict_proba(
        x.astype({c.name: float for c in cfg.feature_columns if c.dtype != "category"})
    )
    y = df[cfg.dataset.label.column]
    if proba.shape[1] == 2:
        return roc_auc_score(y == model.classes_[1], proba[:, 1])
    return roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=model.classes_)


@pytest.fixture(scope="module", params=["churn", "fleet"])
def setup(request):
    cfg = load_pipeline(request.param)
    gen = Generator.for_config(cfg, entities=3000)
    return cfg, gen, _frame(gen, TRAIN_DAYS), _frame(gen, TEST_DAYS)


def test_logistic_regression_finds_real_signal(setup) -> None:
    cfg, _, train, test = setup
    auc = _auc(cfg, _fit(cfg, train), test)
    assert 0.75 <= auc <= 0.90, f"{cfg.pipeline}: clean-data ROC AUC {auc:.3f} outside [0.75, 0.90]"


def test_drift_changes_label_given_features(setup) -> None:
    cfg, gen, train, test = setup
    clean_auc = _auc(cfg, _fit(cfg, train), test)
    drifted_auc = _auc(cfg, _fit(cfg, _frame(gen, TRAIN_DAYS, drift=True)), test)
    assert clean_auc - drifted_auc >= 0.05, (clean_auc, drifted_auc)
    # the features themselves are the same rows: only P(label | features) moved
    drifted = _frame(gen, TRAIN_DAYS, drift=True)
    feats = [c.name for c in cfg.feature_columns]
    pd.testing.assert_frame_equal(drifted[feats], train[feats])


def test_every_class_occurs(setup) -> None:
    cfg, _, train, _ = setup
    shares = train[cfg.dataset.label.column].value_counts(normalize=True)
    assert set(shares.index) == set(cfg.dataset.label.classes)
    assert shares.min() > 0.1, shares


@pytest.mark.parametrize("name", ["churn", "fleet"])
def test_same_seed_same_data_and_day_alone_equals_day_in_range(name: str) -> None:
    cfg = load_pipeline(name)
    a, b = Generator.for_config(cfg, entities=200), Generator.for_config(cfg, entities=200)
    for src in (s for s in cfg.dataset.sources if s.is_due(DAY)):
        pd.testing.assert_frame_equal(a.source(src.name, DAY), b.source(src.name, DAY))
    pd.testing.assert_frame_equal(a.labels_arriving(DAY), b.labels_arriving(DAY))
    other = Generator.for_config(cfg, entities=200, seed=cfg.sample.seed + 1)
    events = next(s for s in cfg.dataset.sources if s.kind == "events")
    assert not a.source(events.name, DAY).equals(other.source(events.name, DAY))


def test_events_are_unique_per_entity_and_timestamp_and_inside_the_day() -> None:
    cfg = load_pipeline("churn")
    gen = Generator.for_config(cfg, entities=20_000)
    ev = gen.source("activity", DAY)
    assert not ev.duplicated(["customer_id", "event_ts"]).any()
    start = pd.Timestamp(DAY, tz="UTC")
    assert ev["event_ts"].between(start, start + pd.Timedelta(days=1), inclusive="left").all()
    assert 2.5 < len(ev) / 20_000 < 3.5  # events_per_entity: 3


@pytest.mark.parametrize("name", ["churn", "fleet"])
def test_values_respect_declared_types_and_bounds(name: str) -> None:
    cfg = load_pipeline(name)
    gen = Generator.for_config(cfg, entities=2000)
    monday = DAY - dt.timedelta(DAY.weekday())
    for src in cfg.dataset.sources:
        df = gen.source(src.name, monday)
        for col in src.columns:
            values = df[col.name]
            assert values.notna().all()
            if col.dtype == "category":
                assert set(values.astype(str)) <= set(col.categories)
            elif col.dtype in ("int64", "float64"):
                assert np.isfinite(values.to_numpy(float)).all()
                assert col.min is None or values.min() >= col.min
                assert col.max is None or values.max() <= col.max
                assert (values.dtype == np.int64) == (col.dtype == "int64")


def test_labels_arrive_after_their_delay_and_follow_the_last_event() -> None:
    cfg = load_pipeline("churn")
    gen = Generator.for_config(cfg, entities=500)
    lab = gen.labels_arriving(DAY)
    assert (lab["arrived_ts"].dt.date == DAY).all()
    assert (lab["observed_ts"].dt.date == DAY - dt.timedelta(days=2)).all()
    events = gen.source("activity", DAY - dt.timedelta(days=2))
    last = events.groupby("customer_id")["event_ts"].max()
    assert (lab["observed_ts"].to_numpy() > last.loc[lab["customer_id"]].to_numpy()).all()
    assert not lab.duplicated(["customer_id", "observed_ts"]).any()


def test_weekly_source_is_due_only_on_its_weekday() -> None:
    cfg = load_pipeline("fleet")
    gen = Generator.for_config(cfg, entities=50)
    week = [DAY + dt.timedelta(d) for d in range(7)]
    due = [d for d in week if gen.source("vehicle_profile", d) is not None]
    assert [d.weekday() for d in due] == [0]
    assert all(gen.source("telemetry", d) is not None for d in week)


def test_scales_to_many_rows_per_day() -> None:
    cfg = load_pipeline("churn")
    gen = Generator.for_config(cfg, entities=100_000)
    assert len(gen.source("profile", DAY)) == 100_000
    assert len(gen.source("activity", DAY)) > 250_000
