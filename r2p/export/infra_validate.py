"""Infra-validation of an export, in a fresh process that imports nothing but TensorFlow.

    python -m r2p.export.infra_validate PB CONTRACT SAVED_MODEL GOLDEN_JSON [--max-bytes N]

Checks, in order, each refusal with a clear message: the ``.pb`` is under the size limit
(default just under protobuf's 2 GB), parses (a truncated or corrupted file does not), imports
with ``tf.compat.v1.import_graph_def``, has no variable, resource or lookup-table op left,
matches the contract (every input and output tensor exists with its dtype); then the golden
inputs go through the ``.pb`` and through the SavedModel's ``serving_default`` and must agree
within 1e-5; batch-1 and batch-256 latencies are measured. Prints one JSON object; exit 1 with
``{"ok": false, "error": ...}`` on a refusal.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

PROTOBUF_LIMIT = 2**31 - 1
DEFAULT_MAX_BYTES = PROTOBUF_LIMIT - 2**20  # just under the limit
FORBIDDEN = (
    "Variable",
    "VarHandleOp",
    "ReadVariableOp",
    "AssignVariableOp",
    "HashTable",
    "LookupTable",
    "MutableHashTable",
    "InitializeTable",
    "ResourceGather",
)
TOLERANCE = 1e-5


class Refused(Exception):
    """The export cannot be served; the message says why."""


def _load_graph(pb: str, max_bytes: int):
    import tensorflow as tf

    with open(pb, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Refused(f"{pb}: larger than the limit of {max_bytes} bytes")
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as exc:  # DecodeError and friends
        raise Refused(f"{pb}: not a valid GraphDef (truncated or corrupted): {exc}") from None
    if not graph_def.node:
        raise Refused(f"{pb}: an empty GraphDef (truncated or not a model)")
    bad = sorted({n.op for n in graph_def.node if any(f in n.op for f in FORBIDDEN)})
    resource = [
        n.name
        for n in graph_def.node
        if n.op == "Placeholder" and n.attr["dtype"].type == tf.resource.as_datatype_enum
    ]
    if bad or resource:
        raise Refused(f"{pb}: not frozen: ops {bad} and resource placeholders {resource} left")
    graph = tf.Graph()
    with graph.as_default():
        try:
            tf.compat.v1.import_graph_def(graph_def, name="")
        except Exception as exc:
            raise Refused(f"{pb}: import_graph_def failed: {exc}") from None
    return graph, len(data)


def _check_contract(graph, contract: dict) -> None:
    for item in contract["inputs"] + contract["outputs"]:
        try:
            tensor = graph.get_tensor_by_name(item["tensor"])
        except (KeyError, ValueError):
            raise Refused(
                f"contract names tensor {item['tensor']!r} ({item['name']}) that the "
                "graph does not have"
            ) from None
        if tensor.dtype.name != item["dtype"]:
            raise Refused(
                f"contract says {item['name']} is {item['dtype']}, the graph has "
                f"{tensor.dtype.name}"
            )


def _check_labels(graph, sess, contract: dict, golden: dict, probs) -> None:
    """The graph's ``class_index`` is the contract's rule (its threshold, or the argmax) on
    the graph's own probabilities: what the server answers from the contract is what the
    graph says."""
    import numpy as np

    from r2p.calibration import Calibration

    item = next((o for o in contract["outputs"] if o["name"] == "class_index"), None)
    if item is None:
        return
    index = sess.run(
        graph.get_tensor_by_name(item["tensor"]), _feeds(graph, contract, golden, slice(None))
    )
    expected = Calibration.from_json(contract.get("calibration")).classes(probs)
    if not np.array_equal(index, expected):
        wrong = int(np.sum(index != expected))
        raise Refused(
            f"the graph's class_index disagrees with the contract's threshold "
            f"{contract.get('threshold')} on {wrong} of {len(index)} golden rows"
        )


def _feeds(graph, contract: dict, golden: dict, rows: slice) -> dict:
    import numpy as np

    feeds = {}
    for item in contract["inputs"]:
        values = golden[item["name"]][rows]
        dtype = object if item["dtype"] == "string" else np.float64
        feeds[graph.get_tensor_by_name(item["tensor"])] = np.array(
            [v.encode() if isinstance(v, str) else b"" for v in values]
            if dtype is object
            else [np.nan if v is None else v for v in values],
            dtype=dtype,
        )
    return feeds


def _latency(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def validate(
    pb: str,
    contract_path: str,
    saved_model: str,
    golden_path: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict:
    """Everything above; returns the report (raises Refused)."""
    import numpy as np
    import tensorflow as tf

    with open(contract_path) as fh:
        contract = json.load(fh)
    with open(golden_path) as fh:
        golden = json.load(fh)
    graph, size = _load_graph(pb, max_bytes)
    _check_contract(graph, contract)
    n = len(next(iter(golden.values())))
    out = graph.get_tensor_by_name(
        next(o["tensor"] for o in contract["outputs"] if o["name"] == "probabilities")
    )
    with tf.compat.v1.Session(graph=graph) as sess:
        pb_probs = sess.run(out, _feeds(graph, contract, golden, slice(None)))
        _check_labels(graph, sess, contract, golden, pb_probs)
        one = _feeds(graph, contract, golden, slice(0, 1))
        batch = _feeds(
            graph, contract, {k: (v * (256 // n + 1))[:256] for k, v in golden.items()}, slice(None)
        )
        lat1 = _latency(lambda: sess.run(out, one), 200)
        lat256 = _latency(lambda: sess.run(out, batch), 50)
    serve = tf.saved_model.load(saved_model).signatures["serving_default"]
    sm_inputs = {}
    for item in contract["inputs"]:
        values = golden[item["name"]]
        sm_inputs[item["name"]] = (
            tf.constant([v if isinstance(v, str) else "" for v in values])
            if item["dtype"] == "string"
            else tf.constant([np.nan if v is None else v for v in values], tf.float64)
        )
    sm_probs = serve(**sm_inputs)["probabilities"].numpy()
    diff = float(np.max(np.abs(sm_probs - pb_probs)))
    if not np.all(np.isfinite(pb_probs)):
        raise Refused("the .pb gives non-finite outputs for the golden inputs")
    if diff > TOLERANCE:
        raise Refused(f"the .pb and the SavedModel disagree by {diff:.3g} (> {TOLERANCE})")
    return {
        "ok": True,
        "pb_bytes": size,
        "golden_rows": n,
        "max_abs_diff": diff,
        "latency_ms": {"batch_1_p50": round(lat1, 4), "batch_256_p50": round(lat256, 4)},
        "tensorflow_version": tf.__version__,
        "probabilities": pb_probs.tolist(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Infra-validate an exported model.")
    parser.add_argument("pb")
    parser.add_argument("contract")
    parser.add_argument("saved_model")
    parser.add_argument("golden")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    args = parser.parse_args(argv)
    try:
        report = validate(args.pb, args.contract, args.saved_model, args.golden, args.max_bytes)
    except Refused as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
