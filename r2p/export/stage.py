"""The export stages: export, infra-validate (fresh process), parity gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from r2p import storage
from r2p.calibration import Calibration, softmax
from r2p.config.schema import PipelineConfig
from r2p.errors import DataError
from r2p.export.export import CONTRACT, PB, SAVED_MODEL, export_model
from r2p.export.predict import pb_probabilities
from r2p.training.metrics import classification
from r2p.training_set.split import SPLIT

GOLDEN_ROWS = 61  # test rows; three more are added: unseen category, extremes, all missing


class InfraValidationError(DataError):
    """The exported files cannot be served as they are."""


class ParityFailed(DataError):
    """The TensorFlow model is not the PyTorch prototype that was validated."""


def export_stage(
    cfg: PipelineConfig, dataset: dict[str, Any], run_id: str, retrain: dict[str, Any]
) -> dict[str, Any]:
    """Export the retrained model (reused when this model and code were exported before)."""
    out = export_model(cfg, retrain, run_id)
    return {k: out[k] for k in ("uri", "pb_uri", "reused", "key")} | {
        "pb_sha256": out["contract"]["pb_sha256"],
        "pb_bytes": out["contract"]["pb_bytes"],
        "config_hash": out["contract"].get("config_hash"),
    }


def _test_frame(dataset: dict[str, Any]):
    from r2p.training_set.load import load_training_set

    frame, _ = load_training_set(dataset)
    return frame[frame[SPLIT] == "test"].reset_index(drop=True)


def golden_inputs(cfg: PipelineConfig, dataset: dict[str, Any]) -> dict[str, list]:
    """Raw inputs by feature: test rows, then an unseen category, extreme values, all missing."""
    test = _test_frame(dataset).head(GOLDEN_ROWS)
    out: dict[str, list] = {}
    for col in cfg.feature_columns:
        values = [
            None if _missing(v) else (v if isinstance(v, str) else float(v)) for v in test[col.name]
        ]
        if col.dtype in ("category", "string"):
            values += ["never-seen-category", values[0] if values else "x", None]
        else:
            values += [values[0] if values else 0.0, 1e12, None]
        out[col.name] = values
    return out


def _missing(v: Any) -> bool:
    """None, NaN or pandas' NA (a nullable column's gap): fed as NaN or "" to the graph."""
    from r2p.evaluation.window import is_missing

    return is_missing(v)


def _download(export: dict[str, Any], folder: Path) -> None:
    base = storage.path(export["uri"])
    for name in (PB, CONTRACT):
        (folder / name).write_bytes((base / name).read_bytes())
    for path in (base / SAVED_MODEL).rglob("*"):
        if path.is_file():
            rel = str(path).split(f"/{SAVED_MODEL}/", 1)[1]
            target = folder / SAVED_MODEL / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())


def infra_validate_stage(
    cfg: PipelineConfig,
    dataset: dict[str, Any],
    run_id: str,
    export: dict[str, Any],
    max_bytes: int | None = None,
) -> dict[str, Any]:
    """Run ``r2p.export.infra_validate`` in a fresh process on local copies of the files."""
    with tempfile.TemporaryDirectory(prefix="r2p-infra-") as tmp:
        folder = Path(tmp)
        _download(export, folder)
        (folder / "golden.json").write_text(json.dumps(golden_inputs(cfg, dataset)))
        cmd = [
            sys.executable,
            "-m",
            "r2p.export.infra_validate",
            str(folder / PB),
            str(folder / CONTRACT),
            str(folder / SAVED_MODEL),
            str(folder / "golden.json"),
            "--max-bytes",
            str(max_bytes or cfg.gates.max_pb_bytes),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "R2P_"))}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise InfraValidationError(
            f"infra-validation crashed (exit {done.returncode}): {done.stderr[-1500:]}"
        )
    report = json.loads(lines[-1])
    if not report.get("ok"):
        raise InfraValidationError(f"export {export['uri']} refused: {report['error']}")
    report.pop("probabilities", None)
    return report


def _torch_logits(prototype_uri: str, cfg: PipelineConfig, model: str, frame: Any) -> np.ndarray:
    """The prototype's logits on ``frame``, from the model built of the spec it saved
    (``spec.json``), never from the config as it is now."""
    import io

    import torch

    from r2p.config.schema import ModelSpec
    from r2p.training.models import torch_model
    from r2p.training.preprocess import Preprocessing, encode

    base = storage.path(prototype_uri)
    if not (base / "spec.json").exists():
        raise ParityFailed(
            f"{cfg.pipeline}/{model}: the prototype {prototype_uri} has no spec.json (committed "
            "by code from before prototypes saved their spec), so parity cannot rebuild the "
            "model that was validated; clear this run's prototype task and the tasks after it "
            "to train it again"
        )
    pre = Preprocessing.from_json(storage.read_json(base / "preprocessing.json"))
    spec = ModelSpec.model_validate(storage.read_json(base / "spec.json"))
    net = torch_model(spec, pre.layout, len(pre.classes))
    net.load_state_dict(torch.load(io.BytesIO((base / "state_dict.pt").read_bytes())))
    net.eval()
    with torch.no_grad():
        return net(torch.from_numpy(encode(pre, frame))).numpy()


def parity_stage(
    cfg: PipelineConfig,
    dataset: dict[str, Any],
    run_id: str,
    prototype: dict[str, Any],
    export: dict[str, Any],
    retrain: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """TF (the .pb, fed raw values) against the PyTorch prototype on the same test split, both
    calibrated as the export is and labelled at its threshold."""
    from r2p.training.data import positive_index
    from r2p.training.preprocess import Preprocessing, labels

    contract = storage.read_json(storage.path(export["uri"]) / CONTRACT)
    test = _test_frame(dataset)
    if test.empty:
        raise ParityFailed("the test split is empty: parity cannot be judged")
    inputs = {
        c.name: [None if _missing(v) else v for v in test[c.name]] for c in cfg.feature_columns
    }
    tf_probs = pb_probabilities(export["pb_uri"], contract, inputs)
    th_logits = _torch_logits(prototype["uri"], cfg, contract["model"], test)
    pre = Preprocessing.from_json(
        storage.read_json(storage.path(prototype["uri"]) / "preprocessing.json")
    )
    y = labels(pre, test, cfg.dataset.label.column)
    n = len(pre.classes)
    pos = positive_index(cfg)
    # both calibrated as the graph is (its constants, from the contract), labelled by one rule
    cal = Calibration.from_json(contract.get("calibration"))
    th_cal = cal.logits(th_logits)
    tf_m = classification(np.log(np.clip(tf_probs, 1e-12, 1.0)), y, n, pos)
    th_m = classification(th_cal, y, n, pos)
    metric = "roc_auc" if n == 2 else "roc_auc_macro"
    gates = cfg.gates
    delta = abs(tf_m[metric] - th_m[metric])
    agreement = float(np.mean(cal.classes(tf_probs) == cal.classes(softmax(th_cal))))
    result = {
        "metric": metric,
        "tensorflow": tf_m[metric],
        "pytorch": th_m[metric],
        "delta": delta,
        "tolerance": gates.parity_metric_tolerance,
        "agreement": agreement,
        "calibration": cal.method,
        "threshold": cal.threshold,
        "min_agreement": gates.parity_min_agreement,
        "rows": len(test),
    }
    result["passed"] = bool(
        delta <= gates.parity_metric_tolerance and agreement >= gates.parity_min_agreement
    )
    if retrain and retrain.get("mlflow_run_id"):
        _log_parity(cfg.pipeline, retrain["mlflow_run_id"], result)
    if not result["passed"]:
        raise ParityFailed(
            f"parity gate failed for {cfg.pipeline}/{contract['model']}: {metric} TF "
            f"{tf_m[metric]:.4f} vs PyTorch {th_m[metric]:.4f} (|delta| {delta:.4f}, tolerance "
            f"{gates.parity_metric_tolerance}); prediction agreement {agreement:.2%} (minimum "
            f"{gates.parity_min_agreement:.0%}) on {len(test)} test rows; nothing is promoted"
        )
    return result


def _log_parity(pipeline: str, run_id: str, result: dict[str, Any]) -> None:
    from r2p.training.tracking import tracking_client

    client = tracking_client()
    for key in ("delta", "agreement", "tensorflow", "pytorch"):
        client.log_metric(run_id, f"parity_{key}", float(result[key]))
    client.set_tag(run_id, "r2p.parity", "passed" if result["passed"] else "failed")
