"""The training stages: eager check, PyTorch prototype, TensorFlow graph-mode retrain.

Each takes the training set's URIs (what XCom carries) and commits its artifacts under the
storage root. The prototype and the retrain are cached by a reuse key: sha256 of the model
spec, the dataset's content hash, the code version, the lock-file hash and the framework; an
unchanged spec, dataset and code reuse the earlier result, a code change never does.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from typing import Any

from r2p import storage
from r2p.calibration import CALIBRATION, Calibration, fit_calibration
from r2p.config import resolved_json
from r2p.config.schema import ModelSpec, PipelineConfig
from r2p.training.artifacts import model_spec, save_tf_weights
from r2p.training.data import Arrays, arrays, positive_index
from r2p.training.eager_check import eager_check
from r2p.training.metrics import classification
from r2p.training_set.load import load_training_set
from r2p.versioning import code_version, lock_hash

log = logging.getLogger(__name__)


def reuse_key(spec: ModelSpec, manifest: dict[str, Any], framework: str, extra: str = "") -> str:
    """What a cached result depends on: spec, data, code, pinned stack and framework (and,
    for the retrain, ``extra``: the calibration and threshold settings it fits)."""
    parts = [
        spec.model_dump_json(),
        manifest["content_hash"],
        code_version(),
        lock_hash(),
        framework,
        *([extra] if extra else []),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def calibrate(cfg: PipelineConfig, valid_logits: Any, data: Arrays) -> Calibration:
    """The calibration and threshold fitted on the validation split's logits."""
    return fit_calibration(
        valid_logits,
        data.y["valid"],
        list(data.pre.classes),
        positive_index(cfg),
        cfg.evaluation,
    )


def _evaluate(logits_fn: Any, data: Arrays, positive: int | None) -> dict[str, dict]:
    return {
        split: classification(logits_fn(data.x[split]), data.y[split], data.n_classes, positive)
        for split in ("valid", "test")
        if len(data.y[split])
    }


def _cached(
    cfg: PipelineConfig, dataset: dict[str, Any], model: str | None, area: str, framework: str
) -> tuple[str, str, dict[str, Any] | None]:
    """(storage name, reuse key, the cached result or None), decided before any training
    data is loaded or preprocessing fitted."""
    spec = model_spec(cfg, model)
    extra = cfg.evaluation.model_dump_json() if framework == "tensorflow" else ""
    manifest = storage.read_json(storage.path(dataset["manifest_uri"]))
    key = reuse_key(spec, manifest, framework, extra)
    name = f"{area}/{cfg.pipeline}/{spec.name}/{key[:16]}"
    ptr = storage.pointer(name)
    if ptr is None:
        return name, key, None
    record = storage.read_json(storage.path(ptr["uri"]) / "result.json")
    log.info("%s %s reused (key %s)", framework, spec.name, key[:12])
    return name, key, {**record, "uri": ptr["uri"], "reused": True}


def _prepare(cfg: PipelineConfig, dataset: dict[str, Any], model: str | None):
    frame, manifest = load_training_set(dataset)
    return model_spec(cfg, model), arrays(cfg, frame), manifest


def eager_check_stage(
    cfg: PipelineConfig, dataset: dict[str, Any], run_id: str, model: str | None = None
) -> dict[str, Any]:
    """One batch through the TensorFlow model eagerly; ModelSpecError on any mismatch."""
    spec, data, _ = _prepare(cfg, dataset, model)
    return {"model": spec.name, **eager_check(spec, data)}


def prototype_stage(
    cfg: PipelineConfig, dataset: dict[str, Any], run_id: str, model: str | None = None
) -> dict[str, Any]:
    """Train (or reuse) the PyTorch prototype; commits its weights and metrics."""
    import torch

    from r2p.training.torch_trainer import train_torch

    name, key, cached = _cached(cfg, dataset, model, "prototypes", "pytorch")
    if cached is not None:
        return cached
    spec, data, manifest = _prepare(cfg, dataset, model)
    result = train_torch(spec, data, positive_index(cfg))
    record = {
        "model": spec.name,
        "key": key,
        "framework": "pytorch",
        "best_epoch": result.best_epoch,
        "history": result.history,
        "metrics": _evaluate(result.logits, data, positive_index(cfg)),
        "dataset_hash": manifest["content_hash"],
        "run_id": run_id,
    }
    buf = io.BytesIO()
    torch.save(result.model.state_dict(), buf)

    def write(prefix: storage.ObjectStoragePath) -> None:
        (prefix / "state_dict.pt").write_bytes(buf.getvalue())
        storage.write_json(prefix / "preprocessing.json", data.pre.as_json())
        storage.write_json(prefix / "spec.json", spec.model_dump())  # what parity rebuilds
        storage.write_json(prefix / "result.json", record)

    uri = storage.commit(name, write, meta={"key": key})
    return {**record, "uri": uri, "reused": False}


def retrain_stage(
    cfg: PipelineConfig,
    dataset: dict[str, Any],
    run_id: str,
    prototype: dict[str, Any],
    trigger: dict[str, Any] | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """Retrain in TensorFlow graph mode (or reuse), commit weights, track both in MLflow.
    ``trigger`` defaults to the one the training set carries."""
    from r2p.training import tracking
    from r2p.training.tf_trainer import train_tf

    trigger = trigger if trigger is not None else dataset.get("trigger") or {}

    name, key, cached = _cached(cfg, dataset, model, "models", "tensorflow")
    if cached is not None:
        return cached
    spec, data, manifest = _prepare(cfg, dataset, model)
    prototype = storage.read_json(storage.path(prototype["uri"]) / "result.json") | {
        "uri": prototype["uri"]
    }
    history = prototype.get("history") or []
    rates = [r["lr"] for r in history] if all("lr" in r for r in history) else None
    stop_at = prototype.get("best_epoch") if history else None
    result = train_tf(spec, data, positive_index(cfg), rates or None, stop_at)
    cal = calibrate(cfg, result.logits(data.x["valid"]), data)
    record = {
        "model": spec.name,
        "key": key,
        "framework": "tensorflow",
        "best_epoch": result.best_epoch,
        "history": result.history,
        "traces": dict(result.traces),
        "metrics": _evaluate(result.logits, data, positive_index(cfg)),
        "calibration": cal.as_json(),
        "prototype_metrics": prototype["metrics"],
        "prototype_uri": prototype["uri"],
        "dataset_hash": manifest["content_hash"],
        "dataset_uri": dataset["dataset_uri"],
        "feature_service": manifest["feature_service"],
        "trigger": trigger,
        "code_version": code_version(),
        "lock_hash": lock_hash(),
        "run_id": run_id,
    }
    flat = {
        f"{fw}_{split}_{m}": v
        for fw, metrics in (("torch", prototype["metrics"]), ("tf", record["metrics"]))
        for split, ms in metrics.items()
        for m, v in ms.items()
    }
    record["mlflow_run_id"] = tracking.log_run(
        cfg.pipeline,
        key,
        params={
            **{
                f"spec.{k}": json.dumps(v) if isinstance(v, list | dict) else v
                for k, v in spec.model_dump().items()
            },
            "feature_service": manifest["feature_service"],
            "dataset_hash": manifest["content_hash"],
            "cutoff": manifest["cutoff"],
        },
        tags={
            "model": spec.name,
            "r2p.pipeline": cfg.pipeline,
            "r2p.code_version": code_version(),
            "r2p.lock_hash": lock_hash()[:16],
            "r2p.feature_service": manifest["feature_service"],
            "r2p.from_backfill": str(trigger.get("from_backfill", False)),
            "r2p.airflow_run_id": run_id,
        },
        histories={"torch": prototype["history"], "tf": result.history},
        metrics=flat,
        artifacts={
            "resolved_config.json": resolved_json(cfg),
            "dataset_manifest.json": manifest,
            "preprocessing.json": data.pre.as_json(),
            "traces.json": record["traces"],
        },
    )

    def write(prefix: storage.ObjectStoragePath) -> None:
        save_tf_weights(prefix, result.model.get_weights())
        storage.write_json(prefix / "preprocessing.json", data.pre.as_json())
        storage.write_json(prefix / "spec.json", spec.model_dump())
        storage.write_json(prefix / CALIBRATION, cal.as_json())  # what the export bakes in
        (prefix / "resolved_config.json").write_text(resolved_json(cfg))
        storage.write_json(prefix / "result.json", record)

    uri = storage.commit(name, write, meta={"key": key})
    return {**record, "uri": uri, "reused": False}
