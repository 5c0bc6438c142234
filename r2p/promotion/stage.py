"""The promote stage of the training DAG: carry out a ``promote`` verdict, nothing else."""

from __future__ import annotations

from typing import Any

from r2p import storage
from r2p.config.schema import PipelineConfig


def promote_stage(
    cfg: PipelineConfig, dataset: dict[str, Any], run_id: str, evaluation: dict[str, Any]
) -> dict[str, Any]:
    """Promote the evaluated candidate when the decision says so and its data may promote."""
    from r2p.promotion.promote import promote

    trigger = dataset.get("trigger") or {}
    if evaluation["verdict"] != "promote":
        return {"promoted": False, "why": f"{evaluation['verdict']}: {evaluation['reason']}"}
    if trigger.get("promotable") is False:  # the evaluation checks it too: belt and braces
        return {"promoted": False, "why": "fed by backfilled data: never moves the champion"}
    decision = storage.read_json(storage.path(evaluation["decision_uri"]))
    result = promote(
        cfg,
        decision["candidate"],
        reason=f"evaluation: {decision['reason']}",
        who=f"airflow:{run_id}",
        decision_uri=evaluation["decision_uri"],
        attachments={
            "decision.json": evaluation["decision_uri"],
            "report.html": evaluation["report_uri"],
        },
    )
    return {
        "promoted": result["outcome"] == "promoted",
        "why": result.get("detail") or result["reason"],
        "outcome": result["outcome"],
        "version": result["champion"]["registry_version"],
        "previous_version": (result["previous_champion"] or {}).get("registry_version"),
        "served": result["served"],
    }
