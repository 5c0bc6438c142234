"""The evaluate stage: the run's candidates ranked on validation, the best one against the
champion and the baseline on the evaluation window, the gates, ``decision.json`` and the HTML
report, committed under ``evaluations/<pipeline>/<key>/``.

The same candidates, champion, data, gates, trigger and code give the same decision (the
bootstrap is seeded), and a rerun reuses the committed one instead of writing another. The
steps themselves are in ``steps.py``, the ranking in ``candidates.py`` and ``ranking.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import numpy as np

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.evaluation import candidates as cands
from r2p.evaluation import gates as g
from r2p.evaluation.candidates import NoCandidate, Selection
from r2p.evaluation.steps import evaluate
from r2p.versioning import code_version, lock_hash

__all__ = ["NoCandidate", "current_champion", "evaluate", "evaluate_stage"]

log = logging.getLogger(__name__)
DECISION, REPORT, FIGURES = "decision.json", "report.html", "figures.json"


def _key(
    cfg: PipelineConfig, sel: Selection, champion: dict[str, Any] | None, trigger: dict
) -> str:
    """The reuse key: the whole candidate set, the champion, data, gates, trigger, code."""
    candidate = sel.chosen.lineage
    parts = [
        candidate["export_key"],
        champion["export_key"] if champion else "-",
        candidate["dataset_hash"],
        cfg.gates.model_dump_json(),
        json.dumps(bool(g.trigger_check(trigger).passed)),
        code_version(),
        lock_hash(),
        *cands.key_parts(cfg, sel),
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
    candidates: dict[str, Any] | list[dict[str, Any]],
    trigger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Rank the run's candidates, evaluate and gate the best; commit decision.json and
    report.html (or reuse them when the same candidate set was evaluated before).

    ``candidates``: one export stage output (with ``uri``), or a list of passed candidates
    (``{"model", "export", "parity"}``, or a bare export output) and failed ones
    (``{"model", "failed": {"stage", "error"}}``). :class:`NoCandidate` when none passed.
    """
    trigger = trigger if trigger is not None else dataset.get("trigger", {})
    sel = cands.select(cfg, candidates)
    champion = current_champion(cfg.pipeline)
    key = _key(cfg, sel, champion, trigger)
    name = f"evaluations/{cfg.pipeline}/{key[:16]}"
    ptr = storage.pointer(name)
    if ptr is not None:
        decision = storage.read_json(storage.path(ptr["uri"]) / DECISION)
        log.info("%s: evaluation reused (%s): %s", cfg.pipeline, key[:12], decision["verdict"])
        return _summary(decision, ptr["uri"], reused=True)
    decision, figures = evaluate(cfg, sel.chosen.lineage, champion, trigger, run_id)
    decision["candidates"] = cands.rows(sel)
    decision["chosen"] = {"model": sel.chosen.model, "why": cands.why(sel)}
    decision["key"] = key
    uri = _commit(name, key, decision, figures)
    _track(sel.chosen.lineage, decision, uri)
    verdict, reason = decision["verdict"], decision["reason"]
    log.info("%s: %s (%s); chosen: %s", cfg.pipeline, verdict, reason, decision["chosen"]["why"])
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
        "candidate_model": decision["candidate"]["model"],
        "candidates": cands.compact(decision.get("candidates", [])),
        "champion_version": (decision.get("champion") or {}).get("registry_version"),
        "metric": metric,
        "metrics": {k: v.get(metric) for k, v in decision["metrics"].items()},
        "rows": decision["window"]["rows"],
        "reused": reused,
    }
