"""Export: a .pb a fresh process can trust, refused when broken, parity-gated, reproducible."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from r2p import storage
from r2p.export.export import CONTRACT, PB, build_export
from r2p.export.predict import pb_probabilities
from r2p.export.stage import (
    InfraValidationError,
    ParityFailed,
    export_stage,
    golden_inputs,
    infra_validate_stage,
    parity_stage,
)
from r2p.training import stage
from r2p.training_set.load import load_training_set

BOTH = pytest.mark.parametrize("built", ["churn", "fleet"], indirect=True)
CHURN = pytest.mark.parametrize("built", ["churn"], indirect=True)


@pytest.fixture(scope="module")
def trained(built):
    cfg, dataset, _, home = built
    proto = stage.prototype_stage(cfg, dataset, "r1")
    model = stage.retrain_stage(cfg, dataset, "r1", proto)
    export = export_stage(cfg, dataset, "r1", model)
    return cfg, dataset, proto, model, export, home


@BOTH
def test_export_infra_validates_and_passes_parity(trained) -> None:
    cfg, dataset, proto, model, export, _ = trained
    report = infra_validate_stage(cfg, dataset, "r1", export)
    assert report["ok"] and report["max_abs_diff"] <= 1e-5 and report["golden_rows"] == 64
    assert report["latency_ms"]["batch_1_p50"] > 0 and report["latency_ms"]["batch_256_p50"] > 0
    parity = parity_stage(cfg, dataset, "r1", proto, export, model)
    assert parity["passed"] and parity["agreement"] >= cfg.gates.parity_min_agreement
    contract = storage.read_json(storage.path(export["uri"]) / CONTRACT)
    assert contract["feature_order"] == [c.name for c in cfg.feature_columns]
    assert contract["classes"] == cfg.dataset.label.classes
    assert contract["files"][PB] == export["pb_sha256"]
    assert contract["feature_service"] == model["feature_service"]  # the entity endpoint's


PURE_TF = """
import json, sys
import numpy as np, tensorflow as tf
contract = json.load(open(sys.argv[2]))
g = tf.compat.v1.GraphDef(); g.ParseFromString(open(sys.argv[1], "rb").read())
graph = tf.Graph()
with graph.as_default():
    tf.compat.v1.import_graph_def(g, name="")
feeds = {graph.get_tensor_by_name(i["tensor"]):
         np.array([b"unseen"] if i["dtype"] == "string" else [1.0], dtype=object
                  if i["dtype"] == "string" else np.float64) for i in contract["inputs"]}
out = [o["tensor"] for o in contract["outputs"] if o["name"] == "probabilities"][0]
with tf.compat.v1.Session(graph=graph) as s:
    p = s.run(graph.get_tensor_by_name(out), feeds)
print(json.dumps({"sum": float(p.sum()), "r2p": any(m.startswith("r2p") for m in sys.modules)}))
"""


@CHURN
def test_pb_answers_in_a_clean_process_with_nothing_but_tensorflow(trained, tmp_path) -> None:
    _, _, _, _, export, _ = trained
    (tmp_path / PB).write_bytes(storage.path(export["pb_uri"]).read_bytes())
    (tmp_path / CONTRACT).write_bytes((storage.path(export["uri"]) / CONTRACT).read_bytes())
    done = subprocess.run(
        [sys.executable, "-c", PURE_TF, str(tmp_path / PB), str(tmp_path / CONTRACT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert abs(out["sum"] - 1.0) < 1e-5 and out["r2p"] is False


def _tamper(export: dict, tmp_path: Path, name: str, data: bytes) -> dict:
    """A copy of the export with one file replaced, committed beside the real one."""
    src = storage.path(export["uri"])

    def write(prefix):
        for path in src.rglob("*"):
            if path.is_file():
                rel = str(path).split(export["uri"].split("://", 1)[1] + "/", 1)[1]
                target = prefix / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data if rel == name else path.read_bytes())

    uri = storage.commit(f"tampered/{tmp_path.name}", write)
    return {**export, "uri": uri, "pb_uri": f"{uri}/{PB}"}


@CHURN
@pytest.mark.parametrize(
    ("case", "message"),
    [
        pytest.param("truncated", "not a valid GraphDef (truncated or corrupted)", id="truncated"),
        pytest.param("corrupted", "not a valid GraphDef", id="corrupted"),
        pytest.param("contract", "that the graph does not have", id="contract-mismatch"),
        pytest.param("too-big", "larger than the limit of 1000 bytes", id="over-size-limit"),
        pytest.param(
            "threshold",
            "class_index disagrees with the contract's threshold",
            id="threshold-not-the-graphs",
        ),
    ],
)
def test_broken_exports_are_refused(trained, tmp_path, case, message) -> None:
    cfg, dataset, _, _, export, _ = trained
    pb = storage.path(export["pb_uri"]).read_bytes()
    limit = None
    if case == "truncated":
        bad = _tamper(export, tmp_path, PB, pb[: len(pb) // 2])
    elif case == "corrupted":
        bad = _tamper(export, tmp_path, PB, b"\\x07" * 64 + pb[64:])
    elif case == "contract":
        contract = storage.read_json(storage.path(export["uri"]) / CONTRACT)
        contract["inputs"][0]["tensor"] = "no_such_input:0"
        bad = _tamper(export, tmp_path, CONTRACT, json.dumps(contract).encode())
    elif case == "threshold":  # the contract says another threshold than the graph applies
        contract = storage.read_json(storage.path(export["uri"]) / CONTRACT)
        contract["calibration"]["threshold"] = (
            0.999 if contract["threshold"]["value"] < 0.9 else 0.0
        )
        bad = _tamper(export, tmp_path, CONTRACT, json.dumps(contract).encode())
    else:
        bad, limit = export, 1000
    with pytest.raises(InfraValidationError, match=re.escape(message)):
        infra_validate_stage(cfg, dataset, "r1", bad, max_bytes=limit)


@CHURN
def test_swapped_feature_order_fails_parity(trained) -> None:
    from r2p.export.export import export_model

    cfg, dataset, proto, model, _, _ = trained
    names = [c.name for c in cfg.feature_columns]
    i, j = names.index("tenure_days"), names.index("age")
    names[i], names[j] = names[j], names[i]
    swapped = export_model(cfg, model, "r-swap", input_names=names)
    with pytest.raises(ParityFailed, match=r"parity gate failed .* nothing is promoted"):
        parity_stage(cfg, dataset, "r-swap", proto, swapped, model)


@CHURN
def test_same_model_same_bytes_and_reuse(trained, tmp_path) -> None:
    cfg, dataset, _, model, export, home = trained
    again = export_stage(cfg, dataset, "r2", model)
    assert again["reused"] and again["uri"] == export["uri"]
    script = (
        "import os, sys, pathlib\n"
        "from r2p.config import load_pipeline\n"
        "from r2p.export.export import build_export\n"
        "c = build_export(load_pipeline('churn'), sys.argv[1], pathlib.Path(sys.argv[2]))\n"
        "print(c['pb_sha256'])\n"
    )
    hashes = set()
    for k in range(2):  # fresh processes: hash seeds and TF's counters differ
        out = tmp_path / f"e{k}"
        out.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", script, model["uri"], str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "R2P_HOME": str(home)},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        hashes.add(done.stdout.strip().splitlines()[-1])
    assert hashes == {export["pb_sha256"]}
    assert build_export is not None


@CHURN
def test_export_and_parity_build_from_the_saved_spec(trained, tmp_path) -> None:
    """A config edited after training (other layers) changes neither the export nor parity:
    both rebuild the models from the spec.json their training commits saved."""
    from r2p.config.schema import Layer

    cfg, dataset, proto, model, export, _ = trained
    trained_spec = cfg.models[0].model_dump()
    for commit in (proto, model):
        assert storage.read_json(storage.path(commit["uri"]) / "spec.json") == trained_spec
    other = cfg.models[0].model_copy(update={"layers": [Layer(units=5, norm="batch")]})
    edited = cfg.model_copy(update={"models": [other]})
    contract = build_export(edited, model["uri"], tmp_path)
    export_contract = storage.read_json(storage.path(export["uri"]) / CONTRACT)
    assert contract["pb_sha256"] == export["pb_sha256"]  # the trained model, not `other`
    inputs = golden_inputs(cfg, dataset)
    np.testing.assert_allclose(
        pb_probabilities(f"file://{tmp_path / PB}", contract, inputs),
        pb_probabilities(export["pb_uri"], export_contract, inputs),
        atol=1e-6,
    )
    before = parity_stage(cfg, dataset, "r-spec", proto, export)
    after = parity_stage(edited, dataset, "r-spec", proto, export)
    assert after["passed"] and after == before


@CHURN
def test_parity_refuses_a_prototype_without_its_spec(trained, tmp_path) -> None:
    cfg, dataset, proto, _, export, _ = trained
    src = storage.path(proto["uri"])

    def write(prefix):  # the prototype as code from before spec.json committed it
        for name in ("state_dict.pt", "preprocessing.json", "result.json"):
            (prefix / name).write_bytes((src / name).read_bytes())

    old = {**proto, "uri": storage.commit(f"old-prototype/{tmp_path.name}", write)}
    with pytest.raises(ParityFailed, match=r"has no spec\.json .* clear this run's prototype"):
        parity_stage(cfg, dataset, "r-old", old, export)


GAPPY = {"monthly_fee", "tenure_days", "autopay", "plan"}  # gaps in every split
NULLABLE_ONLY = {"age", "region"}  # declared nullable, no gap in the training data


def _gappy_dataset(cfg, dataset, seed: int = 5):
    """The training set with gaps in GAPPY (as parquet reads them back: NaN in numbers,
    None in booleans and texts), committed as its own dataset; the config declaring GAPPY and
    NULLABLE_ONLY nullable, two epochs."""
    import hashlib
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from r2p.config.schema import PipelineConfig

    frame, manifest = load_training_set(dataset)
    rng = np.random.default_rng(seed)
    for name in sorted(GAPPY):
        gaps = rng.random(len(frame)) < 0.2
        numeric = name in ("monthly_fee", "tenure_days")
        frame[name] = frame[name].astype("float64" if numeric else object)
        frame.loc[gaps, name] = np.nan if numeric else None
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
    data = buf.getvalue()
    manifest = {**manifest, "content_hash": hashlib.sha256(data).hexdigest()}

    def write(prefix):
        (prefix / "training_set.parquet").write_bytes(data)
        storage.write_json(prefix / "manifest.json", manifest)

    uri = storage.commit(f"gappy/{cfg.pipeline}", write)
    gappy = {
        **dataset,
        "uri": uri,
        "dataset_uri": f"{uri}/training_set.parquet",
        "manifest_uri": f"{uri}/manifest.json",
        "manifest": manifest,
    }
    raw = cfg.model_dump()
    for source in raw["dataset"]["sources"]:
        for col in source["columns"]:
            col["nullable"] = col["name"] in GAPPY | NULLABLE_ONLY
    raw["models"] = [{**m, "epochs": 2} for m in raw["models"]]
    return PipelineConfig.model_validate(raw), gappy


@pytest.fixture(scope="module")
def gappy_trained(built):
    cfg, dataset, _, _ = built
    cfg, dataset = _gappy_dataset(cfg, dataset)
    proto = stage.prototype_stage(cfg, dataset, "g1")
    model = stage.retrain_stage(cfg, dataset, "g1", proto)
    export = export_stage(cfg, dataset, "g1", model)
    return cfg, dataset, proto, model, export


def _torch_from_tf(cfg, model_uri: str):
    """The exported Keras model's weights in the PyTorch MLP of the same spec."""
    import torch

    from r2p.export.export import load_keras
    from r2p.training.models import torch_model

    keras_model, pre, spec = load_keras(model_uri)
    net = torch_model(spec, pre.input_dim, len(pre.classes))
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    dense = [x for x in keras_model.layers if x.name.startswith(("dense_", "logits"))]
    with torch.no_grad():
        for dst, src in zip(linears, dense, strict=True):
            kernel, bias = src.get_weights()
            dst.weight.copy_(torch.from_numpy(kernel.T))
            dst.bias.copy_(torch.from_numpy(bias))
    return net.eval(), pre


@CHURN
def test_gaps_reach_the_frozen_graph_as_nan_and_empty_string(gappy_trained, tmp_path) -> None:
    """The .pb in a fresh process (the infra-validation module) gives the probabilities the
    PyTorch path gives on the NumPy encoding, on rows with gaps, unseen and all missing."""
    import numpy as np
    import pandas as pd
    import torch

    from r2p.calibration import Calibration
    from r2p.evaluation.window import model_inputs
    from r2p.export.stage import _download, golden_inputs, pb_probabilities
    from r2p.training.preprocess import encode

    cfg, dataset, proto, model, export = gappy_trained
    net, pre = _torch_from_tf(cfg, model["uri"])
    assert {n.name for n in pre.indicators} == {"monthly_fee", "tenure_days", "autopay", "age"}
    assert {c.name for c in pre.categorical if c.missing} == {"plan", "region"}

    report = infra_validate_stage(cfg, dataset, "g1", export)  # .pb == SavedModel, gaps too
    assert report["ok"] and report["max_abs_diff"] <= 1e-5
    parity = parity_stage(cfg, dataset, "g1", proto, export, model)
    assert parity["passed"]

    golden = golden_inputs(cfg, dataset)
    for name in GAPPY:
        assert any(v is None for v in golden[name][:-3])  # gaps among the real test rows
    _download(export, tmp_path)
    (tmp_path / "golden.json").write_text(json.dumps(golden))
    done = subprocess.run(
        [sys.executable, "-m", "r2p.export.infra_validate"]
        + [str(tmp_path / p) for p in (PB, CONTRACT, "saved_model", "golden.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    fresh = np.array(json.loads(done.stdout.strip().splitlines()[-1])["probabilities"])

    frame = pd.DataFrame(golden)
    contract = storage.read_json(storage.path(export["uri"]) / CONTRACT)
    cal = Calibration.from_json(contract["calibration"])  # the graph calibrates, as fitted
    assert cal.method == "platt" and cal.threshold is not None
    with torch.no_grad():
        expected = cal.probabilities(net(torch.from_numpy(encode(pre, frame))).numpy())
    np.testing.assert_allclose(fresh, expected, atol=1e-5)

    # The in-process loader (serving, evaluation): JSON nulls, and pandas' nullable dtypes
    # through the evaluation window's raw values.
    np.testing.assert_allclose(
        pb_probabilities(export["pb_uri"], contract, golden), fresh, atol=1e-5
    )
    typed = frame.copy()
    typed["autopay"] = (typed["autopay"] > 0.5).astype("boolean").mask(frame["autopay"].isna())
    typed["tenure_days"] = typed["tenure_days"].round().astype("Int64")
    rows = model_inputs({"features": contract["feature_order"]}, typed)
    assert rows["autopay"].count(None) == frame["autopay"].isna().sum() > 1
    assert rows["tenure_days"].count(None) == frame["tenure_days"].isna().sum() > 1
    with torch.no_grad():
        typed_expected = cal.probabilities(net(torch.from_numpy(encode(pre, typed))).numpy())
    np.testing.assert_allclose(
        pb_probabilities(export["pb_uri"], contract, rows), typed_expected, atol=1e-5
    )
