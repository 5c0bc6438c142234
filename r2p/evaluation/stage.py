"""The evaluate stage: candidate vs champion vs baseline on the evaluation window, the gates,
``decision.json`` and the HTML report, committed under ``evaluations/<pipeline>/<key>/``.

The same candidate, champion, data, gates, trigger and code give the same decision (the
bootstrap is seeded), and a rerun reuses the committed one instead of writing another. The
steps themselves are in ``steps.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import numpy as np

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.evaluation import gates as g
from r2p.evaluation.steps import evaluate
from r2p.versioning import code_version, lock_hash

__all__ = ["current_champion", "evaluate", "evaluate_stage"]

log = logging.getLogger(__name__)
DECISION, REPORT, FIGURES = "decision.json", "report.html", "figures.json"


def _key(cfg: PipelineConfig, candidate: dict, champion: dict | None, trigger: dict) -> str:
    """The reuse key: the candidate, the champion, data, gates, trigger, code."""
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
    uri = _commit(name, key, decision, figures)
    _track(candidate, decision, uri)
    log.info("%s: %s (%s)", cfg.pipeline, decision["verdict"], decision["reason"])
    return _summary(decision, uri, reused=False)


def _commit(name: str, key: str, decision: dict[str, Any], figures: dict[str, Any]) -> str:
    """Step 6, the report: render it and commit it with the figures and the decision."""
    from r2p.evaluation.report import render

    page = render(decision, figures)

    def write(prefix: storage.ObjectStoragePath) -> None:
        storage.write_json(prefix / FIGURES, figures)
        (prefix / REPORT).write_text(page)
        storage.write_json(prefix / DECISION, decision)  # last: describes what is there

    return storage.commit(name, write, meta={"key": key, "verdict": decision["verdict"]})


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
