"""Reference models: fitted on the candidate's own training split and preprocessing, so a
person sees what a model with no architecture to get right does on the same rows.

The logistic-regression baseline (``baseline.py``) is gated; the gradient-boosted trees
reference (``gates.reference: hgb``) is only reported. Both share one encoding (the
candidate's ``preprocessing.json``, as ``training.preprocess.encode`` computes it) and one
cache: a reference is fitted once per training set and stored under
``references/<pipeline>/<model>/<key>/`` (``model.pkl`` and ``reference.json``), keyed by the
training set's content hash, the encoding, the model and its settings, the scikit-learn
version, the code version and the lock-file hash. Another evaluation of the same training set
loads it instead of fitting again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.versioning import code_version, lock_hash

if TYPE_CHECKING:  # pandas and the preprocessing are imported by the functions that read rows
    import pandas as pd

    from r2p.evaluation.metrics import Measured
    from r2p.training.preprocess import Preprocessing

log = logging.getLogger(__name__)
MODEL, INFO = "model.pkl", "reference.json"
TRAINED_ON = "candidate train split"


@dataclass(frozen=True)
class Reference:
    """A reference model: its name, its settings and how to build it from them (unfitted)."""

    name: str
    settings: dict[str, Any]
    build: Callable[[dict[str, Any]], Any]


@dataclass
class Majority:
    """What a reference says when the training split holds one class: that class, always."""

    classes_: np.ndarray

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability 1 for the one class of the training split, on every row."""
        return np.ones((len(x), 1))


def _hgb(settings: dict[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**settings)


# scikit-learn's defaults, written out so they are part of the cache key; seeded, so the
# internal early-stopping split (used above 10 000 rows) is the same on every fit
HGB = Reference(
    "hist_gradient_boosting",
    {
        "learning_rate": 0.1,
        "max_iter": 100,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 0.0,
        "early_stopping": "auto",
        "random_state": 0,
    },
    _hgb,
)
REFERENCES = {"hgb": HGB}  # gates.reference -> the reported (never gated) reference


def scored_name(cfg: PipelineConfig) -> str | None:
    """The key of the reported reference in the scored models and decision.json (None: off)."""
    choice = cfg.gates.reference
    return None if choice == "none" else f"reference_{choice}"


def encoding(candidate: dict[str, Any]) -> Preprocessing:
    """The candidate's preprocessing: the encoding every reference is fitted and fed with."""
    from r2p.training.preprocess import Preprocessing

    return Preprocessing.from_json(
        storage.read_json(storage.path(candidate["model_uri"]) / "preprocessing.json")
    )


def training_split(
    cfg: PipelineConfig, candidate: dict[str, Any], pre: Preprocessing, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """The encoded inputs and class indices of one of the candidate's splits (train)."""
    from r2p.training.preprocess import encode, labels
    from r2p.training_set.load import load_training_set
    from r2p.training_set.split import SPLIT

    frame, _ = load_training_set(candidate)
    train = frame[frame[SPLIT] == split]
    return encode(pre, train), labels(pre, train, cfg.dataset.label.column)


def threshold_settings(cfg: PipelineConfig) -> str:
    """How a two-class reference's threshold is chosen ("" for more classes: the argmax)."""
    if len(cfg.dataset.label.classes) != 2:
        return ""
    return cfg.evaluation.threshold.model_dump_json()


def cache_key(
    cfg: PipelineConfig, candidate: dict[str, Any], pre: Preprocessing, ref: Reference
) -> str:
    """What a fitted reference depends on: the training set's content, the encoding, the model
    and its settings, scikit-learn, the code, the lock file and the threshold objective."""
    import sklearn

    parts = [
        candidate["dataset_hash"],
        json.dumps(pre.as_json(), sort_keys=True),
        ref.name,
        json.dumps(ref.settings, sort_keys=True),
        sklearn.__version__,
        code_version(),
        lock_hash(),
        threshold_settings(cfg),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def fitted(
    cfg: PipelineConfig, candidate: dict[str, Any], pre: Preprocessing, ref: Reference
) -> tuple[Any, dict[str, Any]]:
    """``ref`` fitted on the candidate's train split, and what it is: loaded from the cache
    when this training set was seen (``reused`` True), else fitted and committed."""
    key = cache_key(cfg, candidate, pre, ref)
    name = f"references/{cfg.pipeline}/{ref.name}/{key[:16]}"
    ptr = storage.pointer(name)
    if ptr is not None and ptr.get("key") == key:
        prefix = storage.path(ptr["uri"])
        info = storage.read_json(prefix / INFO)
        log.info("%s: %s reused (%s)", cfg.pipeline, ref.name, key[:12])
        model = pickle.loads((prefix / MODEL).read_bytes())
        return model, {**info, "uri": ptr["uri"], "reused": True}
    start = time.perf_counter()
    x, y = training_split(cfg, candidate, pre)
    present = np.unique(y)
    if len(present) < 2:  # one class only: the majority class is all it can say
        model, kind = Majority(present if len(present) else np.array([0])), "majority_class"
    else:
        model, kind = ref.build(ref.settings).fit(x, y), ref.name
    info = {
        "kind": kind,
        "threshold": operating_threshold(cfg, candidate, pre, model),
        "trained_on": TRAINED_ON,
        "train_rows": len(y),
        "settings": ref.settings,
        "dataset_hash": candidate["dataset_hash"],
        "key": key,
        "fit_seconds": round(time.perf_counter() - start, 3),
    }
    data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)

    def write(prefix: storage.ObjectStoragePath) -> None:
        (prefix / MODEL).write_bytes(data)
        storage.write_json(prefix / INFO, info)  # last: describes what is there

    uri = storage.commit(name, write, meta={"key": key})
    log.info("%s: %s fitted on %d rows (%s)", cfg.pipeline, ref.name, len(y), key[:12])
    return model, {**info, "uri": uri, "reused": False}


def operating_threshold(
    cfg: PipelineConfig, candidate: dict[str, Any], pre: Preprocessing, model: Any
) -> float | None:
    """A two-class reference's threshold, chosen on the validation split by the objective the
    candidate's was (``evaluation.threshold``), so both are judged at their own best point;
    None (the argmax) for more classes, ``argmax``, or a split the objective cannot use."""
    from r2p.calibration import ThresholdError, choose_threshold
    from r2p.training.data import positive_index

    pos = positive_index(cfg)
    if pos is None or cfg.evaluation.threshold.optimize == "argmax" or not len(model.classes_) > 1:
        return None
    x, y = training_split(cfg, candidate, pre, "valid")
    proba = np.zeros((len(y), len(pre.classes)))
    proba[:, model.classes_] = model.predict_proba(x)
    try:
        value, _ = choose_threshold(proba[:, pos], y == pos, cfg.evaluation, pre.classes[pos])
    except ThresholdError:
        return None
    return value


def probabilities(
    cfg: PipelineConfig, candidate: dict[str, Any], rows: pd.DataFrame, ref: Reference
) -> tuple[np.ndarray, dict[str, Any]]:
    """Class probabilities of ``ref`` on ``rows`` (config class order), and what it was
    trained on (with ``reused``: whether the fit came from the cache)."""
    from r2p.training.preprocess import encode

    pre = encoding(candidate)
    model, info = fitted(cfg, candidate, pre, ref)
    proba = np.zeros((len(rows), len(pre.classes)))
    proba[:, model.classes_] = model.predict_proba(encode(pre, rows))
    return proba, info


def reported(
    cfg: PipelineConfig, candidate: dict[str, Any], rows: pd.DataFrame
) -> tuple[np.ndarray | None, dict[str, Any] | None]:
    """The reported reference's probabilities and description, (None, None) when
    ``gates.reference`` is ``none``. A reference that fails to fit is described with its
    error and left out: it is never gated, so it never stops an evaluation."""
    if scored_name(cfg) is None:
        return None, None
    ref = REFERENCES[cfg.gates.reference]
    try:
        proba, info = probabilities(cfg, candidate, rows, ref)
    except Exception as exc:  # report-only: the gates must never depend on it
        log.warning("%s: reference %s failed: %r", cfg.pipeline, ref.name, exc, exc_info=True)
        return None, {"kind": ref.name, "gated": False, "error": f"{type(exc).__name__}: {exc}"}
    return proba, {**info, "gated": False}


def reference_deltas(cfg: PipelineConfig, measured: Measured) -> dict[str, Any]:
    """``vs_reference_<name>``: the candidate minus the reported reference, per shown metric,
    with the paired bootstrap's intervals (empty when no reference was scored)."""
    from r2p.evaluation.metrics import deltas_of

    name = scored_name(cfg)
    if name is None or name not in measured.point:
        return {}
    names = sorted(measured.shown["candidate"])
    conf = cfg.gates.improvement.confidence
    return {f"vs_{name}": deltas_of(names, measured.boot, measured.point, name, conf)}
