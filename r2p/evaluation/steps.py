"""The evaluation of one candidate as steps, in the order its data flows:

window → predictions → metrics → checks → verdict → report. :func:`evaluate` runs the first
five and returns what the sixth (``report.render``, called by the stage) draws. Each step is
a plain function of what the steps before it gave: the window (``window.py``) and the checks
that need nothing else (``gates.py``), the predictions (here), the metrics and their
intervals (``metrics.measure``), the gates on them, the verdict, the report's figures.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from r2p import storage
from r2p.calibration import Calibration, reliability, uncalibrated
from r2p.config.schema import PipelineConfig
from r2p.evaluation import gates as g
from r2p.evaluation import reference
from r2p.evaluation.metrics import Measured, Scored, improvement_ci, measure
from r2p.versioning import code_version, lock_hash

if TYPE_CHECKING:  # pandas is imported by the step that reads the rows, not by importing this
    from r2p.evaluation.window import Window


@dataclass
class Predictions:
    """Every model's probabilities on the window's rows, scored against their labels."""

    scored: dict[str, Scored]  # candidate, champion (when there is one), baseline, reference
    classes: list[str]
    baseline: dict[str, Any]  # what the baseline was trained on
    reference: dict[str, Any] | None = None  # the reported reference (None: gates.reference none)
    uncalibrated: Scored | None = None  # the candidate's network before its calibration
    calibration: dict[str, Any] | None = None  # the candidate's, from its contract


def evaluate(
    cfg: PipelineConfig,
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    trigger: dict[str, Any],
    run_id: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(decision, report figures) for ``candidate`` against ``champion`` (None: first run)."""
    start = time.perf_counter()
    decision = header(cfg, candidate, champion, trigger, run_id)
    if champion and champion["export_key"] == candidate["export_key"]:
        decision["window"] = no_window(candidate)
        return decide(decision, [already_champion()], start), {}
    window = open_window(cfg, candidate, champion)
    decision["window"] = window.description
    checks = window_checks(cfg, candidate, champion, window)
    if not all(c.passed for c in checks):
        return decide(decision, checks, start), {}
    pred = predictions(cfg, candidate, champion, window.frame)
    decision["baseline"] = pred.baseline
    decision["calibration"] = pred.calibration
    # the probability of the positive class from which each model says positive (None: argmax)
    decision["operating_thresholds"] = {k: sc.threshold for k, sc in pred.scored.items()}
    measured = measure(cfg.gates, pred.scored)
    decision["metrics"], decision["deltas"] = measured.shown, measured.deltas
    decision["guards"] = guards(cfg, measured)
    checks += gate_checks(cfg, trigger, measured, pred, decision["guards"])
    decision["reference"] = pred.reference  # reported, never gated: added after the gates
    decision["deltas"] = {**measured.deltas, **reference.reference_deltas(cfg, measured)}
    figs = figures(pred)
    decision["per_class"] = figs["per_class"]
    return decide(decision, checks, start, measured.boot.seconds), figs


def header(
    cfg: PipelineConfig,
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    trigger: dict[str, Any],
    run_id: str,
) -> dict[str, Any]:
    """The decision before anything is measured: who is compared, on what terms, by what code."""
    return {
        "pipeline": cfg.pipeline,
        "run_id": run_id,
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(),
        "candidate": candidate,
        "champion": champion,
        "trigger": trigger,
        "classes": list(cfg.dataset.label.classes),
        "averaging": averaging(cfg),
        "thresholds": cfg.gates.model_dump(mode="json", exclude={"max_pb_bytes"}),
        "metrics": {},
        "deltas": {},
        "code_version": code_version(),
        "lock_hash": lock_hash(),
    }


def averaging(cfg: PipelineConfig) -> str:
    """How precision, recall, F1 and ROC AUC are averaged, in words."""
    lab = cfg.dataset.label
    if len(lab.classes) == 2:
        positive = lab.positive_class or lab.classes[-1]
        return f"binary: precision, recall, F1 and ROC AUC of class {positive!r}"
    return f"{len(lab.classes)} classes: macro (one-vs-rest) precision, recall, F1 and ROC AUC"


def no_window(candidate: dict[str, Any]) -> dict[str, Any]:
    """The window of an evaluation that compares nothing (the candidate is the champion)."""
    return {"after": None, "through": None, "opened_by": "-", "rows": 0, "entities": 0,
            "labels_arrived_before": candidate["data_end"],
            "source_dataset_uri": candidate["dataset_uri"]}  # fmt: skip


def already_champion() -> g.Check:
    """The one check of an evaluation of the champion itself."""
    return g.Check("is_new", False, "the candidate is the champion already", g.UNCHANGED)


# Step 1: the window, and whether it can judge the models at all.


def open_window(
    cfg: PipelineConfig, candidate: dict[str, Any], champion: dict[str, Any] | None
) -> Window:
    """The labelled rows neither model trained or tuned on (see ``window.py``)."""
    from r2p.evaluation.window import evaluation_window

    return evaluation_window(cfg, candidate, champion)


def window_checks(
    cfg: PipelineConfig,
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    window: Window,
) -> list[g.Check]:
    """Before any prediction: data recency, the window's size, both models can be fed."""
    from r2p.evaluation.window import missing_inputs

    rows = window.frame
    checks = [
        g.recency_check(candidate, champion),
        g.eval_size_check(cfg, len(rows), window.after, window.set_by),
    ]
    for name, ref in (("candidate", candidate), ("champion", champion)):
        if ref is not None:
            checks.append(g.inputs_check(cfg, name, ref, missing_inputs(ref, rows)))
    return checks


# Step 2: predictions of the candidate, the champion, the baseline and the reported reference
# on the same rows.


def predictions(
    cfg: PipelineConfig, candidate: dict[str, Any], champion: dict[str, Any] | None, rows: Any
) -> Predictions:
    """Each model's class probabilities on ``rows`` (the .pb files, as served), scored."""
    from r2p.evaluation.baseline import baseline_probabilities
    from r2p.training.data import positive_index
    from r2p.training.preprocess import Preprocessing, labels

    pre = Preprocessing.from_json(
        storage.read_json(storage.path(candidate["model_uri"]) / "preprocessing.json")
    )
    y = labels(pre, rows, cfg.dataset.label.column)
    proba, contract = {}, {}
    proba["candidate"], contract["candidate"] = pb_predict(candidate, rows)
    if champion:
        proba["champion"], contract["champion"] = pb_predict(champion, rows)
    # each model labelled at its own threshold: the exported ones at their contract's, the
    # references at the one the same objective picks for them on the validation split
    threshold = {k: exported_threshold(c) for k, c in contract.items()}
    proba["baseline"], baseline = baseline_probabilities(cfg, candidate, rows)
    threshold["baseline"] = baseline.get("threshold")
    ref_proba, ref_info = reference.reported(cfg, candidate, rows)
    if ref_proba is not None:
        proba[reference.scored_name(cfg)] = ref_proba
        threshold[reference.scored_name(cfg)] = ref_info.get("threshold")
    n, pos = len(pre.classes), positive_index(cfg)
    scored = {k: Scored(p, y, n, pos, threshold.get(k)) for k, p in proba.items()}
    raw = uncalibrated(proba["candidate"], contract["candidate"].get("calibration"))
    return Predictions(
        scored,
        list(pre.classes),
        baseline,
        reference=ref_info,
        uncalibrated=Scored(raw, y, n, pos),
        calibration=contract["candidate"].get("calibration"),
    )


def pb_predict(ref: dict[str, Any], rows: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """The exported graph ``ref`` on ``rows``' raw values, and its contract."""
    from r2p.evaluation.window import model_inputs
    from r2p.export.export import CONTRACT
    from r2p.export.predict import pb_probabilities

    contract = storage.read_json(storage.path(ref["export_uri"]) / CONTRACT)
    return pb_probabilities(ref["pb_uri"], contract, model_inputs(ref, rows)), contract


def exported_threshold(contract: dict[str, Any]) -> float | None:
    """The operating threshold an export carries (None: the most probable class)."""
    return Calibration.from_json(contract.get("calibration")).threshold


# Step 3, the metrics, is ``metrics.measure``. Step 4: the gates on what was measured.


def guards(cfg: PipelineConfig, m: Measured) -> dict[str, list[dict[str, Any]]]:
    """Every guard metric against the baseline and (when there is one) the champion."""
    return {
        f"vs_{against}": g.guard_rows(cfg.gates, m.point, m.deltas[f"vs_{against}"], against)
        for against in ("baseline", "champion")
        if f"vs_{against}" in m.deltas
    }


def gate_checks(
    cfg: PipelineConfig,
    trigger: dict[str, Any],
    m: Measured,
    pred: Predictions,
    guard_rows: dict[str, list[dict[str, Any]]],
) -> list[g.Check]:
    """Backfill, computable metrics, a degenerate candidate, floors, the baseline and its
    guards, then the champion and its guards (or the first-run policy), in the order a
    reviewer asks about them."""
    gates, metric = cfg.gates, cfg.gates.improvement.metric
    cand, champ, base = m.point["candidate"], m.point.get("champion"), m.point["baseline"]
    scored = pred.scored["candidate"]
    predicted, labelled = scored.shares()
    absent = [c for c, share in zip(pred.classes, labelled, strict=True) if share == 0]
    checks = [
        g.trigger_check(trigger),
        g.computable_check(gates, cand, champ, absent),
        g.degenerate_check(gates, pred.classes, list(predicted), list(labelled), len(scored.y)),
        *g.floor_checks(gates, cand, base),
    ]
    base_ci = improvement_ci(m.deltas["vs_baseline"][metric])
    checks.append(g.baseline_check(gates, cand[metric], base[metric], base_ci))
    checks.append(g.guard_check(gates, guard_rows["vs_baseline"], "baseline"))
    if champ is None:
        return [*checks, g.first_run_check(gates)]
    champ_ci = improvement_ci(m.deltas["vs_champion"][metric])
    checks.append(g.improvement_check(gates, cand[metric], champ[metric], champ_ci))
    return [*checks, g.guard_check(gates, guard_rows["vs_champion"], "champion")]


# Step 5: the verdict.


def decide(
    decision: dict[str, Any], checks: list[g.Check], start: float, boot_s: float = 0.0
) -> dict[str, Any]:
    """The first failed check decides (all passed: promote); the checks, the deciding one's
    figures and the timings recorded."""
    decision["verdict"], decision["reason"] = g.verdict(checks)
    decision["decided_by"] = g.decided_by(checks)
    decision["checks"] = [c.as_json() for c in checks]
    total = time.perf_counter() - start
    decision["timings"] = {
        "evaluate_seconds": round(total, 3),
        "bootstrap_seconds": round(boot_s, 3),
        "bootstrap_share": round(boot_s / total, 3) if total > 0 else 0.0,
    }
    return decision


# Step 6, the report: what it draws (``report.render`` draws it).


def figures(pred: Predictions) -> dict[str, Any]:
    """Curves of every model, confusion matrices of the two real ones, per-class tables."""
    from r2p.evaluation import curves

    scored, classes = pred.scored, pred.classes
    return {
        "curves": {k: curves.curves(s, classes) for k, s in scored.items()},
        "confusion": {k: curves.confusion(s) for k, s in scored.items() if k != "baseline"},
        "per_class": {k: curves.per_class(s, classes) for k, s in scored.items()},
        "reliability": reliability_figures(pred),
    }


def reliability_figures(pred: Predictions) -> dict[str, Any]:
    """The candidate's reliability on the window before and after its calibration, and the
    baseline's, with the calibration that was applied."""
    cand = pred.scored["candidate"]
    shown = {"candidate (uncalibrated)": pred.uncalibrated, "candidate": cand,
             "baseline": pred.scored.get("baseline")}  # fmt: skip
    return {
        "models": {
            k: reliability(s.proba, s.y, s.positive) for k, s in shown.items() if s is not None
        },
        "calibration": pred.calibration,
    }
