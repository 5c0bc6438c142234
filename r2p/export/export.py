"""Export one concrete function as a SavedModel and a frozen GraphDef ``.pb``, plus
``contract.json``; written to a local temp folder, then committed under the storage root
(new unique prefix, pointer last). The same model and code give the same ``.pb`` bytes, and an
export that exists for the reuse key is reused, not duplicated."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from r2p import storage
from r2p.calibration import CALIBRATION, Calibration
from r2p.config.schema import ModelSpec, PipelineConfig
from r2p.training.preprocess import Preprocessing

PB = "model.pb"
CONTRACT = "contract.json"
SAVED_MODEL = "saved_model"
OUTPUTS = {"class_index": {"dtype": "int64", "shape": [None]}}  # the others: float32 per class


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_keras(model_uri: str) -> tuple[Any, Preprocessing, ModelSpec]:
    """The retrained Keras model, its preprocessing and spec, from the retrain commit: built
    from the spec the retrain saved (``spec.json``), never from the config as it is now."""
    from r2p.training.artifacts import load_tf_weights
    from r2p.training.models import tf_model

    base = storage.path(model_uri)
    pre = Preprocessing.from_json(storage.read_json(base / "preprocessing.json"))
    spec = ModelSpec.model_validate(storage.read_json(base / "spec.json"))
    model = tf_model(spec, pre.layout, len(pre.classes))
    model.set_weights(load_tf_weights(model_uri))
    return model, pre, spec


def calibration_of(model_uri: str) -> Calibration:
    """The calibration the retrain fitted (none for retrains from before calibration)."""
    path = storage.path(model_uri) / CALIBRATION
    return Calibration.from_json(storage.read_json(path) if path.exists() else None)


def threshold_of(cal: Calibration, classes: list[str]) -> dict[str, Any] | None:
    """What the contract says of the operating threshold (None: the most probable class)."""
    if cal.threshold is None or cal.positive is None:
        return None
    return {"class": classes[cal.positive], "value": cal.threshold, "optimize": cal.optimize}


def canonical(graph_def: Any) -> Any:
    """The GraphDef with nodes and library functions sorted by name.

    TensorFlow emits the placeholders in an order that changes between processes (it
    follows Python's randomised string hashing); the importer does not care about node order,
    so sorting makes the bytes a function of the model alone.
    """
    nodes = sorted(graph_def.node, key=lambda n: n.name)
    del graph_def.node[:]
    graph_def.node.extend(nodes)
    functions = sorted(graph_def.library.function, key=lambda f: f.signature.name)
    del graph_def.library.function[:]
    graph_def.library.function.extend(functions)
    return graph_def


def freeze(module: Any) -> tuple[bytes, dict[str, Any]]:
    """Deterministic bytes of the frozen GraphDef of ``module.serve``, and its tensor names."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    concrete = module.serve.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = canonical(frozen.graph.as_graph_def())
    names = {
        "inputs": [t.name for t in frozen.inputs],
        "outputs": dict(
            zip(sorted(concrete.structured_outputs), [t.name for t in frozen.outputs], strict=True)
        ),
    }
    return graph_def.SerializeToString(deterministic=True), names


def build_export(
    cfg: PipelineConfig, model_uri: str, folder: Path, input_names: list[str] | None = None
) -> dict[str, Any]:
    """Write ``model.pb``, ``saved_model/`` and ``contract.json`` into ``folder``."""
    import tensorflow as tf

    from r2p.export.serving import input_specs, serving_module

    model, pre, spec = load_keras(model_uri)
    cal = calibration_of(model_uri)
    order = [c.name for c in cfg.feature_columns]
    module = serving_module(pre, model, order, input_names, cal)
    pb, names = freeze(module)
    (folder / PB).write_bytes(pb)
    tf.saved_model.save(
        module,
        str(folder / SAVED_MODEL),
        signatures={"serving_default": module.serve.get_concrete_function()},
    )
    files = {
        str(p.relative_to(folder)): _sha(p.read_bytes())
        for p in sorted((folder / SAVED_MODEL).rglob("*"))
        if p.is_file()
    }
    in_names = input_names or order
    contract = {
        "pipeline": cfg.pipeline,
        "model": spec.name,
        "model_uri": model_uri,
        "feature_order": in_names,
        "inputs": [
            {"name": n, "dtype": d, "shape": [None], "tensor": t}
            for n, (_, d), t in zip(in_names, input_specs(pre, order), names["inputs"], strict=True)
        ],
        "outputs": [
            {
                "name": k,
                **OUTPUTS.get(k, {"dtype": "float32", "shape": [None, len(pre.classes)]}),
                "tensor": v,
            }
            for k, v in names["outputs"].items()
        ],
        "classes": list(pre.classes),
        "calibration": cal.as_json(),
        "threshold": threshold_of(cal, list(pre.classes)),
        "signature": "serving_default",
        "tensorflow_version": tf.__version__,
        "files": {PB: _sha(pb), **{f"{SAVED_MODEL}/{k}": v for k, v in files.items()}},
        "pb_sha256": _sha(pb),
        "pb_bytes": len(pb),
    }
    storage.write_json(storage.path(f"file://{folder / CONTRACT}"), contract)
    return contract


def export_model(
    cfg: PipelineConfig, retrain: dict[str, Any], run_id: str, input_names: list[str] | None = None
) -> dict[str, Any]:
    """Export (or reuse) the retrained model; returns URIs and the contract.

    The contract carries the hash of the config of the run that exported it (a reused export
    keeps its first run's hash; each run's own hash is in its stage records)."""
    from r2p.run_config import config_hash

    key = (
        retrain["key"]
        if input_names is None
        else _sha((retrain["key"] + "|" + ",".join(input_names)).encode())
    )
    name = f"exports/{cfg.pipeline}/{retrain['model']}/{key[:16]}"
    if (ptr := storage.pointer(name)) is not None:
        contract = storage.read_json(storage.path(ptr["uri"]) / CONTRACT)
        return {
            "uri": ptr["uri"],
            "reused": True,
            "key": key,
            "contract": contract,
            "pb_uri": f"{ptr['uri']}/{PB}",
        }
    with tempfile.TemporaryDirectory(prefix="r2p-export-") as tmp:
        folder = Path(tmp)
        contract = build_export(cfg, retrain["uri"], folder, input_names)
        contract["run_id"] = run_id
        contract["config_hash"] = config_hash(cfg)  # the run's config snapshot (r2p.run_config)
        if retrain.get("feature_service"):  # what the entity endpoint reads online
            contract["feature_service"] = retrain["feature_service"]

        def write(prefix: storage.ObjectStoragePath) -> None:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.name != CONTRACT:
                    target = prefix / str(path.relative_to(folder))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(path.read_bytes())
            storage.write_json(prefix / CONTRACT, contract)  # last: describes what is there

        uri = storage.commit(name, write, meta={"key": key, "pb_sha256": contract["pb_sha256"]})
    return {"uri": uri, "reused": False, "key": key, "contract": contract, "pb_uri": f"{uri}/{PB}"}
