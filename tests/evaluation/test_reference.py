"""Reference models (issue 20, item 4): the gradient-boosted trees reference and the baseline
are fitted once per training set on the candidate's train split and encoding, reported in
decision.json and report.html, and never change the verdict.

churn, 250 entities, through the real training-set stage. The candidate's exported graph is
patched where evaluation uses it (``steps.pb_predict``), so no network is trained here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from r2p import storage
from r2p.evaluation import reference, steps
from r2p.evaluation.baseline import baseline_probabilities
from r2p.evaluation.report import render
from tests.promotion.conftest import TRIGGER

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("built", ["churn"], indirect=True)]


@dataclass
class World:
    cfg: Any
    candidate: dict[str, Any]  # the lineage evaluation reads (as export.lineage.describe)
    rows: Any  # the evaluation window's rows
    train: tuple[np.ndarray, np.ndarray]  # encoded train split, labels


@pytest.fixture(scope="module")
def world(built) -> World:
    """A candidate lineage over the real training set: its preprocessing committed as the
    prototype would, its window opened by the real step."""
    from r2p.training.preprocess import encode, fit, labels
    from r2p.training_set.load import load_training_set
    from r2p.training_set.split import SPLIT

    cfg, dataset, _, _ = built
    cfg = cfg.model_copy(update={"gates": cfg.gates.model_copy(update={"min_eval_rows": 50})})
    frame, manifest = load_training_set(dataset)
    train = frame[frame[SPLIT] == "train"]
    pre = fit(cfg, train)
    model_uri = storage.commit(
        "test_models/churn",
        lambda p: storage.write_json(p / "preprocessing.json", pre.as_json()),
    )
    splits = manifest["splits"]
    candidate = {
        "pipeline": cfg.pipeline,
        "model": "fake",
        "export_uri": "-",
        "export_key": "fake-export",
        "features": [c.name for c in cfg.feature_columns],
        "classes": list(cfg.dataset.label.classes),
        "model_uri": model_uri,
        "dataset_uri": dataset["dataset_uri"],
        "manifest_uri": dataset["manifest_uri"],
        "dataset_hash": manifest["content_hash"],
        "feature_service": manifest["feature_service"],
        "data_end": manifest["cutoff"],
        "train_valid_end": max(splits[n]["to"] for n in ("train", "valid")),
        "split_policy": manifest.get("split_policy"),
    }
    rows = steps.open_window(cfg, candidate, None).frame
    x, y = encode(pre, train), labels(pre, train, cfg.dataset.label.column)
    return World(cfg, candidate, rows, (x, y))


@pytest.fixture
def home_of(world: World, built, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("R2P_HOME", str(built[3]))
    return world


def counted(ref: reference.Reference, fits: list[int]) -> reference.Reference:
    """``ref`` with its own settings (its own cache entry), counting how often it is built."""

    def build(settings: dict[str, Any]) -> Any:
        fits.append(1)
        return ref.build(settings)

    return dataclasses.replace(ref, settings={**ref.settings, "max_iter": 31}, build=build)


def test_a_second_evaluation_of_the_training_set_reuses_the_fit(home_of: World) -> None:
    w, fits = home_of, []
    ref = counted(reference.HGB, fits)
    first, info = reference.probabilities(w.cfg, w.candidate, w.rows, ref)
    assert fits == [1] and info["reused"] is False and info["kind"] == reference.HGB.name
    assert info["train_rows"] == len(w.train[1]) and info["trained_on"] == "candidate train split"
    again, info2 = reference.probabilities(w.cfg, w.candidate, w.rows, ref)
    assert fits == [1] and info2["reused"] is True  # loaded, not fitted
    assert info2["key"] == info["key"] and info2["uri"] == info["uri"]
    np.testing.assert_array_equal(again, first)
    assert first.shape == (len(w.rows), 2)
    np.testing.assert_allclose(first.sum(axis=1), 1.0)


def test_the_fit_is_the_one_on_the_train_split_and_seeded(home_of: World) -> None:
    """The cached reference predicts what HistGradientBoostingClassifier fitted on the
    candidate's encoded train split predicts (the shared encoding, seeded)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from r2p.training.preprocess import encode

    w = home_of
    proba, _ = reference.probabilities(w.cfg, w.candidate, w.rows, reference.HGB)
    direct = HistGradientBoostingClassifier(**reference.HGB.settings).fit(*w.train)
    pre = reference.encoding(w.candidate)
    np.testing.assert_allclose(proba, direct.predict_proba(encode(pre, w.rows)), rtol=1e-12)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"dataset_hash": "another-training-set"}, id="training-set"),
        pytest.param({"settings": {"max_iter": 7}}, id="settings"),
    ],
)
def test_another_training_set_or_settings_fits_again(home_of: World, change: dict) -> None:
    w, fits = home_of, []
    ref = counted(reference.HGB, fits)
    reference.probabilities(w.cfg, w.candidate, w.rows, ref)
    fits.clear()
    cand = {**w.candidate, "dataset_hash": change.get("dataset_hash", w.candidate["dataset_hash"])}
    if "settings" in change:
        ref = dataclasses.replace(ref, settings={**ref.settings, **change["settings"]})
    _, info = reference.probabilities(w.cfg, cand, w.rows, ref)
    assert fits == [1] and info["reused"] is False


def test_the_baseline_is_cached_too(home_of: World) -> None:
    w = home_of
    first, info = baseline_probabilities(w.cfg, w.candidate, w.rows)
    again, info2 = baseline_probabilities(w.cfg, w.candidate, w.rows)
    assert info["kind"] == "logistic_regression" and info2["reused"] is True
    np.testing.assert_array_equal(again, first)


def test_one_class_in_the_train_split_is_the_majority_class(
    home_of: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = home_of
    x, y = w.train
    monkeypatch.setattr(reference, "training_split", lambda *a: (x, np.ones_like(y)))
    ref = dataclasses.replace(reference.HGB, settings={**reference.HGB.settings, "max_iter": 3})
    proba, info = reference.probabilities(w.cfg, w.candidate, w.rows, ref)
    assert info["kind"] == "majority_class"
    np.testing.assert_array_equal(proba, np.tile([0.0, 1.0], (len(w.rows), 1)))


def fake_candidate(kind: str, w: World):
    """What the candidate's graph is patched to say: a logistic regression of its own (a
    candidate close to the baseline) or seeded noise (one the gates reject)."""
    from sklearn.linear_model import LogisticRegression

    from r2p.training.preprocess import encode

    if kind == "noise":
        p = np.random.default_rng(1).uniform(0.05, 0.95, len(w.rows))
        return lambda ref, rows: (np.stack([1 - p, p], axis=1), {})  # (probabilities, contract)
    model = LogisticRegression(C=0.5, max_iter=500).fit(*w.train)
    pre = reference.encoding(w.candidate)
    return lambda ref, rows: (model.predict_proba(encode(pre, rows)), {})


def evaluate_with(w: World, choice: str) -> tuple[dict, dict]:
    cfg = w.cfg.model_copy(update={"gates": w.cfg.gates.model_copy(update={"reference": choice})})
    return steps.evaluate(cfg, w.candidate, None, TRIGGER, "ref-test")


def gated(d: dict) -> tuple:
    return d["verdict"], d["reason"], d["checks"]


@pytest.mark.parametrize("kind", ["close-to-baseline", "noise"])
def test_the_reference_never_changes_the_verdict(
    home_of: World, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    w = home_of
    monkeypatch.setattr(steps, "pb_predict", fake_candidate(kind, w))
    with_ref, figs = evaluate_with(w, "hgb")
    without, _ = evaluate_with(w, "none")
    assert gated(with_ref) == gated(without)
    assert with_ref["deltas"]["vs_baseline"] == without["deltas"]["vs_baseline"]
    for model in ("candidate", "baseline"):
        assert with_ref["metrics"][model] == without["metrics"][model]
    # reported: its point values and the candidate's paired deltas with intervals
    shown = with_ref["metrics"]["reference_hgb"]
    assert set(shown) == set(with_ref["metrics"]["candidate"])
    vs = with_ref["deltas"]["vs_reference_hgb"]
    assert set(vs) == set(shown)
    for m, d in vs.items():
        assert d["delta"] == pytest.approx(with_ref["metrics"]["candidate"][m] - shown[m])
        assert d["low"] <= d["high"]
    assert with_ref["reference"]["gated"] is False
    assert with_ref["reference"]["kind"] == reference.HGB.name
    assert "reference_hgb" not in without["metrics"] and without["reference"] is None
    assert "vs_reference_hgb" not in without["deltas"]
    assert all("reference" not in c["name"] for c in with_ref["checks"])
    page = render(with_ref, figs)
    assert "HGB reference (not gated)" in page
    assert "candidate &minus; HGB reference (not gated)" in page
    assert "HGB reference" not in render(without, evaluate_with(w, "none")[1])


def test_a_reference_that_fails_is_reported_and_decides_nothing(
    home_of: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = home_of
    monkeypatch.setattr(steps, "pb_predict", fake_candidate("noise", w))

    def broken(settings: dict[str, Any]) -> Any:
        raise MemoryError("no room for trees")

    bad = dataclasses.replace(reference.HGB, settings={"broken": True}, build=broken)
    monkeypatch.setitem(reference.REFERENCES, "hgb", bad)
    failed, figs = evaluate_with(w, "hgb")
    without, _ = evaluate_with(w, "none")
    assert gated(failed) == gated(without)
    assert failed["reference"]["error"] == "MemoryError: no room for trees"
    assert "reference_hgb" not in failed["metrics"]
    assert "HGB reference (not gated) failed: MemoryError" in render(failed, figs)
