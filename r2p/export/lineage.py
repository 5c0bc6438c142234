"""What an exported model is and where it came from, from its contract back to its data."""

from __future__ import annotations

from typing import Any

from r2p import storage
from r2p.export.export import CONTRACT, PB


def _end_of(splits: dict[str, Any], names: tuple[str, ...]) -> str | None:
    ends = [splits[n]["to"] for n in names if splits.get(n, {}).get("to")]
    return max(ends) if ends else None


def describe(export_uri: str) -> dict[str, Any]:
    """The lineage of the export at ``export_uri``: contract, retrain record, training set.

    ``train_valid_end`` is the newest label moment the model (or its early stopping) saw; an
    evaluation window starts after it. ``data_end`` is the training set's cutoff: labels that
    arrived before it were available.
    """
    contract = storage.read_json(storage.path(export_uri) / CONTRACT)
    result = storage.read_json(storage.path(contract["model_uri"]) / "result.json")
    dataset_uri = result["dataset_uri"]
    manifest_uri = dataset_uri.rsplit("/", 1)[0] + "/manifest.json"
    manifest = storage.read_json(storage.path(manifest_uri))
    trigger = result.get("trigger") or {}
    return {
        "pipeline": contract["pipeline"],
        "model": contract["model"],
        "export_uri": export_uri,
        "export_key": result["key"],
        "pb_uri": f"{export_uri}/{PB}",
        "pb_sha256": contract["pb_sha256"],
        "features": list(contract["feature_order"]),
        "classes": list(contract["classes"]),
        "model_uri": contract["model_uri"],
        "mlflow_run_id": result.get("mlflow_run_id"),
        "trained_by_run": result.get("run_id"),
        "code_version": result.get("code_version"),
        "dataset_uri": dataset_uri,
        "manifest_uri": manifest_uri,
        "dataset_hash": manifest["content_hash"],
        "feature_service": manifest["feature_service"],
        "feature_service_version": manifest.get("feature_service_version"),
        "data_end": manifest["cutoff"],
        "train_valid_end": _end_of(manifest["splits"], ("train", "valid")),
        "split_policy": manifest.get("split_policy"),
        "test_window": [manifest["splits"]["test"]["from"], manifest["splits"]["test"]["to"]],
        "from_backfill": bool(trigger.get("from_backfill", False)),
    }
