"""The evaluate stage: candidate vs champion vs baseline on the evaluation window, the gates,
``decision.json`` and the HTML report, committed under ``evaluations/<pipeline>/<key>/``.

The same candidate, champion, data, gates, trigger and code give the same decision (the
bootstrap is seeded), and a rerun reuses the committed one instead of writing another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from typing import Any

import numpy as np

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.evaluation import gates as g
from r2p.evaluation.metrics import Scored, interval, paired_bootstrap
from r2p.versioning import code_version, lock_hash

log = logging.getLogger(__name__)
DECISION, REPORT, FIGURES = "decision.json", "report.html", "figures.json"


def _key(cfg: PipelineConfig, candidate: dict, champion: dict | None, trigger: dict) -> str:
    parts = [
        candidate["export_key"],
        champion["export_key"] if champion else "-",
        candidate["dataset_hash"],
        cfg.gates.model_dump_json(),
        json.dumps(bool(g.trigger_check(trigger).passed)),
        code_version(),
        lock_hash(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _averaging(cfg: PipelineConfig) -> str:
    lab = cfg.dataset.label
    if len(lab.classes) == 2:
        positive = lab.positive_class or lab.classes[-1]
        return f"binary: precision, recall, F1 and ROC AUC of class {positive!r}"
    return f"{len(lab.classes)} classes: macro (one-vs-rest) precision, recall, F1 and ROC AUC"


def _deltas(
    metrics: list[str], boot: Any, point: dict, challenger: str, incumbent: str, conf: float
) -> dict:
    from r2p.evaluation.metrics import improvement

    out = {}
    for m in metrics:
        raw = boot.samples[challenger][m] - boot.samples[incumbent][m]
        ci = interval(raw, conf)
        imp = interval(boot.delta(m, challenger, incumbent), conf)
        out[m] = {
            "delta": point[challenger][m] - point[incumbent][m],
            "low": ci["low"],
            "high": ci["high"],
            "improvement": improvement(m, point[challenger][m], point[incumbent][m]),
            "improvement_lower_bound": imp["lower_bound"],
            "improvement_low": imp["low"],
            "improvement_high": imp["high"],
            "p_not_better": float(np.mean(boot.delta(m, challenger, incumbent) <= 0)),
            "nan_fraction": ci["nan_fraction"],
        }
    return out


def _eval_size_text(cfg: PipelineConfig, rows: int, after: str, set_by: str) -> str:
    """The evaluation window's size against ``gates.min_eval_rows``, and what would change it."""
    need = cfg.gates.min_eval_rows
    where = f"{rows} rows labelled after {after} (opened by the {set_by})"
    if rows >= need:
        return f"{where}; at least {need} needed"
    split = cfg.training.split
    widen = (
        f"raise training.split.test_fraction (now {split.test_fraction})"
        if split.method == "random"
        else f"raise training.split.test_days (now {split.test_days}) or training.window_days "
        f"(now {cfg.training.window_days})"
    )
    return (
        f"gates.min_eval_rows is {need} but the evaluation window holds {rows} rows ({where}): "
        f"set gates.min_eval_rows <= {max(rows, 1)} or {widen}"
    )


def evaluate(
    cfg: PipelineConfig,
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    trigger: dict[str, Any],
    run_id: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(decision, report figures) for ``candidate`` against ``champion`` (None: first run)."""
    from r2p.evaluation import curves
    from r2p.evaluation.baseline import baseline_probabilities
    from r2p.evaluation.window import evaluation_window, missing_inputs, model_inputs
    from r2p.export.predict import pb_probabilities
    from r2p.training.data import positive_index
    from r2p.training.preprocess import Preprocessing, labels

    start = time.perf_counter()
    gates = cfg.gates
    decision: dict[str, Any] = {
        "pipeline": cfg.pipeline,
        "run_id": run_id,
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(),
        "candidate": candidate,
        "champion": champion,
        "trigger": trigger,
        "classes": list(cfg.dataset.label.classes),
        "averaging": _averaging(cfg),
        "thresholds": gates.model_dump(mode="json", exclude={"max_pb_bytes"}),
        "metrics": {},
        "deltas": {},
        "code_version": code_version(),
        "lock_hash": lock_hash(),
    }
    figures: dict[str, Any] = {}
    if champion and champion["export_key"] == candidate["export_key"]:
        decision["window"] = {"after": None, "through": None, "opened_by": "-", "rows": 0,
                              "entities": 0, "labels_arrived_before": candidate["data_end"],
                              "source_dataset_uri": candidate["dataset_uri"]}  # fmt: skip
        check = g.Check("is_new", False, "the candidate is the champion already", g.UNCHANGED)
        return _finish(decision, [check], start, 0.0), figures
    window = evaluation_window(cfg, candidate, champion)
    decision["window"] = window.description
    rows = window.frame
    checks = [
        g.recency_check(candidate, champion),
        g.Check(
            "eval_size",
            len(rows) >= gates.min_eval_rows,
            _eval_size_text(cfg, len(rows), window.after, window.set_by),
            g.NOT_EVALUATED,
        ),
    ]
    for name, ref in (("candidate", candidate), ("champion", champion)):
        if ref is None:
            continue
        missing = missing_inputs(ref, rows)
        checks.append(
            g.Check(
                f"{name}_inputs",
                not missing and ref["classes"] == list(cfg.dataset.label.classes),
                f"{ref['feature_service']} needs {missing} that the evaluation rows lack"
                if missing
                else f"{ref['feature_service']}: all {len(ref['features'])} inputs present"
                if ref["classes"] == list(cfg.dataset.label.classes)
                else f"its classes {ref['classes']} differ from the config's",
                g.NOT_EVALUATED,
            )
        )
    if not all(c.passed for c in checks):
        return _finish(decision, checks, start, 0.0), figures

    pre = Preprocessing.from_json(
        storage.read_json(storage.path(candidate["model_uri"]) / "preprocessing.json")
    )
    y = labels(pre, rows, cfg.dataset.label.column)
    n, pos = len(pre.classes), positive_index(cfg)
    proba = {"candidate": _predict(pb_probabilities, candidate, rows, model_inputs)}
    if champion:
        proba["champion"] = _predict(pb_probabilities, champion, rows, model_inputs)
    proba["baseline"], decision["baseline"] = baseline_probabilities(cfg, candidate, rows)
    scored = {k: Scored(p, y, n, pos) for k, p in proba.items()}
    shown = sorted(set(gates.metrics) | set(gates.floors) | {gates.improvement.metric})
    point = {k: s.values() for k, s in scored.items()}
    decision["metrics"] = {k: {m: v[m] for m in shown} for k, v in point.items()}
    imp = gates.improvement
    boot = paired_bootstrap(scored, imp.bootstrap_samples, imp.seed)
    conf = imp.confidence
    decision["deltas"]["vs_baseline"] = _deltas(shown, boot, point, "candidate", "baseline", conf)
    metric = imp.metric
    checks.append(g.trigger_check(trigger))
    checks += g.metric_checks(gates, point["candidate"], point.get("champion"))
    vs_base = _improvement_ci(decision["deltas"]["vs_baseline"][metric])
    checks.append(
        g.baseline_check(gates, point["candidate"][metric], point["baseline"][metric], vs_base)
    )
    if champion:
        decision["deltas"]["vs_champion"] = _deltas(
            shown, boot, point, "candidate", "champion", conf
        )
        vs_champ = _improvement_ci(decision["deltas"]["vs_champion"][metric])
        checks.append(
            g.improvement_check(
                gates, point["candidate"][metric], point["champion"][metric], vs_champ
            )
        )
    else:
        checks.append(g.first_run_check(gates))
    classes = list(pre.classes)
    figures = {
        "curves": {k: curves.curves(s, classes) for k, s in scored.items()},
        "confusion": {k: curves.confusion(s) for k, s in scored.items() if k != "baseline"},
        "per_class": {k: curves.per_class(s, classes) for k, s in scored.items()},
    }
    decision["per_class"] = figures["per_class"]
    return _finish(decision, checks, start, boot.seconds), figures


def _improvement_ci(delta: dict[str, Any]) -> dict[str, float]:
    """The improvement's interval and one-sided lower bound, as the gates read them."""
    return {
        "low": delta["improvement_low"],
        "high": delta["improvement_high"],
        "lower_bound": delta["improvement_lower_bound"],
    }


def _predict(pb_probabilities: Any, ref: dict, rows: Any, model_inputs: Any) -> np.ndarray:
    from r2p.export.export import CONTRACT

    contract = storage.read_json(storage.path(ref["export_uri"]) / CONTRACT)
    return pb_probabilities(ref["pb_uri"], contract, model_inputs(ref, rows))


def _finish(decision: dict, checks: list[g.Check], start: float, boot_s: float) -> dict:
    decision["verdict"], decision["reason"] = g.verdict(checks)
    decision["checks"] = [c.as_json() for c in checks]
    total = time.perf_counter() - start
    decision["timings"] = {
        "evaluate_seconds": round(total, 3),
        "bootstrap_seconds": round(boot_s, 3),
        "bootstrap_share": round(boot_s / total, 3) if total > 0 else 0.0,
    }
    return decision


def current_champion(pipeline: str) -> dict[str, Any] | None:
    """The committed champion's full lineage (None before the first promotion)."""
    from r2p.export.lineage import describe
    from r2p.promotion import record

    champion = record.read(pipeline).champion
    if champion is None:
        return None
    return {**describe(champion["export_uri"]), "registry_version": champion["registry_version"]}


def evaluate_stage(
    cfg: PipelineConfig,
    dataset: dict[str, Any],
    run_id: str,
    export: dict[str, Any],
    trigger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate the exported candidate; commit decision.json and report.html (or reuse them)."""
    from r2p.evaluation.report import render
    from r2p.export.lineage import describe

    trigger = trigger if trigger is not None else dataset.get("trigger", {})
    candidate = describe(export["uri"])
    champion = current_champion(cfg.pipeline)
    key = _key(cfg, candidate, champion, trigger)
    name = f"evaluations/{cfg.pipeline}/{key[:16]}"
    ptr = storage.pointer(name)
    if ptr is not None:
        decision = storage.read_json(storage.path(ptr["uri"]) / DECISION)
        log.info("%s: evaluation reused (%s): %s", cfg.pipeline, key[:12], decision["verdict"])
        return _summary(decision, ptr["uri"], reused=True)
    decision, figures = evaluate(cfg, candidate, champion, trigger, run_id)
    decision["key"] = key
    page = render(decision, figures)

    def write(prefix: storage.ObjectStoragePath) -> None:
        storage.write_json(prefix / FIGURES, figures)
        (prefix / REPORT).write_text(page)
        storage.write_json(prefix / DECISION, decision)  # last: describes what is there

    uri = storage.commit(name, write, meta={"key": key, "verdict": decision["verdict"]})
    _track(candidate, decision, uri)
    log.info("%s: %s (%s)", cfg.pipeline, decision["verdict"], decision["reason"])
    return _summary(decision, uri, reused=False)


def _track(candidate: dict[str, Any], decision: dict[str, Any], uri: str) -> None:
    """Attach the decision and the report to the candidate's MLflow run."""
    run_id = candidate.get("mlflow_run_id")
    if not run_id:
        return
    import tempfile
    from pathlib import Path

    from r2p.training.tracking import tracking_client

    client = tracking_client()
    with tempfile.TemporaryDirectory(prefix="r2p-eval-") as tmp:
        for name in (DECISION, REPORT):
            (Path(tmp) / name).write_bytes((storage.path(uri) / name).read_bytes())
        client.log_artifacts(run_id, tmp, "evaluation")
    for model, values in decision["metrics"].items():
        for m, v in values.items():
            if np.isfinite(v):
                client.log_metric(run_id, f"eval_{model}_{m}", float(v))
    client.set_tag(run_id, "r2p.verdict", decision["verdict"])


def _summary(decision: dict[str, Any], uri: str, reused: bool) -> dict[str, Any]:
    """What XCom carries: URIs, the verdict and the headline numbers (never the rows)."""
    metric = decision["thresholds"]["improvement"]["metric"]
    return {
        "verdict": decision["verdict"],
        "reason": decision["reason"],
        "decision_uri": f"{uri}/{DECISION}",
        "report_uri": f"{uri}/{REPORT}",
        "candidate_export_uri": decision["candidate"]["export_uri"],
        "champion_version": (decision.get("champion") or {}).get("registry_version"),
        "metric": metric,
        "metrics": {k: v.get(metric) for k, v in decision["metrics"].items()},
        "rows": decision["window"]["rows"],
        "reused": reused,
    }
