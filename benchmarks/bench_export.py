"""Export time, and batch-1 latency of the frozen .pb beside the SavedModel and PyTorch.

Trains the churn spec on generated days (small: the model, not the data, is measured), then
times the export (SavedModel + frozen .pb + contract), and the median batch-1 latency of: the
.pb in a ``tf.compat.v1.Session``, the SavedModel's ``serving_default``, and the PyTorch
prototype's forward pass on an encoded row. Prints JSON.

    .venv/bin/python benchmarks/bench_export.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

START = dt.date(2026, 11, 2)


def _median_ms(fn, repeat: int) -> float:
    for _ in range(50):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 4)


def main() -> int:
    from _common import quiet

    quiet()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
        os.environ["R2P_HOME"] = tmp
        print(json.dumps(run(args.repeat, Path(tmp)), indent=2))
    return 0


def run(repeat: int, tmp: Path) -> dict:
    import numpy as np
    import tensorflow as tf
    import torch

    from r2p import storage
    from r2p.config import load_pipeline
    from r2p.export.export import build_export
    from r2p.export.stage import _test_frame
    from r2p.ingest.stage import ingest_source
    from r2p.intervals import day_interval
    from r2p.sample.landing import generate_days
    from r2p.training import stage
    from r2p.training.models import build_torch
    from r2p.training.preprocess import Preprocessing, encode
    from r2p.training_set.build import build_training_set

    cfg = load_pipeline("churn")
    generate_days(cfg, START, 12, entities=300)
    for i in range(12):
        for s in cfg.source_names:
            ingest_source(cfg, s, day_interval(START + dt.timedelta(days=i)), "bench")
    ds = build_training_set(cfg, START + dt.timedelta(days=12), "bench")
    proto = stage.prototype_stage(cfg, ds, "bench")
    model = stage.retrain_stage(cfg, ds, "bench", proto)
    out = tmp / "export"
    out.mkdir()
    t0 = time.perf_counter()
    contract = build_export(cfg, model["uri"], out)
    export_s = time.perf_counter() - t0
    row = _test_frame(ds).head(1)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((out / "model.pb").read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    feeds, sm_inputs = {}, {}
    for item in contract["inputs"]:
        v = row[item["name"]].iloc[0]
        if item["dtype"] == "string":
            feeds[graph.get_tensor_by_name(item["tensor"])] = np.array([str(v).encode()], object)
            sm_inputs[item["name"]] = tf.constant([str(v)])
        else:
            feeds[graph.get_tensor_by_name(item["tensor"])] = np.array([float(v)], np.float64)
            sm_inputs[item["name"]] = tf.constant([float(v)], tf.float64)
    prob = graph.get_tensor_by_name(
        next(o["tensor"] for o in contract["outputs"] if o["name"] == "probabilities")
    )
    sess = tf.compat.v1.Session(graph=graph)
    serve = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    pre = Preprocessing.from_json(
        storage.read_json(storage.path(proto["uri"]) / "preprocessing.json")
    )
    net = build_torch(cfg.models[0], pre.input_dim, len(pre.classes))
    net.load_state_dict(
        torch.load(io.BytesIO((storage.path(proto["uri"]) / "state_dict.pt").read_bytes()))
    )
    net.eval()
    x = torch.from_numpy(encode(pre, row))

    def torch_call() -> None:
        with torch.no_grad():
            net(x)

    lat = {
        "pb_session_ms": _median_ms(lambda: sess.run(prob, feeds), repeat),
        "saved_model_signature_ms": _median_ms(lambda: serve(**sm_inputs), repeat),
        "pytorch_forward_ms": _median_ms(torch_call, repeat),
        "pytorch_encode_and_forward_ms": _median_ms(
            lambda: net(torch.from_numpy(encode(pre, row))), repeat // 4
        ),
    }
    return {
        "benchmark": "export",
        "export_seconds": round(export_s, 3),
        "pb_bytes": contract["pb_bytes"],
        "batch_1_latency": lat,
        "ratio_saved_model_over_pb": round(
            lat["saved_model_signature_ms"] / lat["pb_session_ms"], 2
        ),
        "ratio_pb_over_pytorch_forward": round(lat["pb_session_ms"] / lat["pytorch_forward_ms"], 2),
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    sys.exit(main())
