"""Load and warm a served model version: the frozen ``.pb`` (default) or the SavedModel.

The one loader the model server and the promotion's publish step share: publishing runs
``python -m r2p.serving.loader <version folder>`` in a separate process, so a model this
loader cannot load and answer with never reaches the serving folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

CONTRACT = "contract.json"
PB = "model.pb"


_NUMPY = {"string": object}  # contract dtype -> NumPy dtype, where the names differ


def _values(dtype: str, values: list) -> list:
    """One feature's raw values as NumPy takes them for the contract ``dtype``: strings as
    UTF-8 bytes (b"" for missing); numbers as they are (NumPy makes None a NaN: missing)."""
    if dtype == "string":
        return [v.encode() if isinstance(v, str) else b"" for v in values]
    return values


def feeds_for(contract: dict[str, Any], inputs: dict[str, list]) -> dict[str, np.ndarray]:
    """NumPy arrays per contract input from raw values (None/NaN = missing)."""
    return {
        item["name"]: np.array(
            _values(item["dtype"], inputs[item["name"]]), _NUMPY.get(item["dtype"], item["dtype"])
        )
        for item in contract["inputs"]
    }


# Batch-1 latency is mostly fixed cost, so the session is set up for it (figures: the AMD EPYC
# 2-core machine, churn's 13 features, in-process medians of 6,000 runs):
# - one fed tensor per dtype, not per feature: each fed tensor costs ~35 us in Session.run
#   (13 features: 0.57 ms to feed an identity op, one tensor 0.14 ms), so the frozen graph is
#   imported with its per-feature placeholders mapped to the columns of one matrix per dtype;
# - the C session run is called directly (``_direct_runner``): ``Session.run``'s per-call
#   Python feed handling costs ~0.25 ms, more than the model (0.07-0.11 ms direct, 0.28-0.43
#   through ``Session.run``; ``make_callable`` with feeds falls back to ``Session.run``);
# - ops run in the calling thread (a negative inter-op thread count) with one intra-op
#   thread: no hand-off to TF's pools, and no pool threads spinning for work on the two cores
#   the HTTP and gRPC servers need.
# Together a batch-1 ``predict`` went from 0.75-1.3 ms to about 0.15 ms.
SESSION_THREADS = {"intra_op_parallelism_threads": 1, "inter_op_parallelism_threads": -1}


def _direct_runner(session: Any, fed: list[Any], output: Any) -> Any:
    """``f(*matrices)`` -> ``output`` fed with ``matrices`` in ``fed``'s order, through the C
    session run the way TF's ``make_callable`` does it without feeds. The matrices must have
    the placeholders' exact dtypes (``predict`` builds them so). Private TF API, pinned in the
    lock; a TF without it gets the public ``Session.run`` (same answers, slower)."""
    try:
        run = session._call_tf_sessionrun
        feeds = [t._as_tf_output() for t in fed]
        fetches = [output._as_tf_output()]
    except AttributeError:
        return lambda *matrices: session.run(output, dict(zip(fed, matrices, strict=True)))

    def call(*matrices: np.ndarray) -> np.ndarray:
        return run(None, dict(zip(feeds, matrices, strict=True)), fetches, [], None)[0]

    return call


class FrozenModel:
    """A frozen GraphDef in its own graph and session; ``predict`` returns probabilities.

    The graph keeps the contract's per-feature inputs (what TF Serving and the SavedModel
    take); this process feeds them as one (batch, features) matrix per dtype.
    """

    def __init__(self, pb: bytes, contract: dict[str, Any]) -> None:
        import tensorflow as tf

        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(pb)
        self.contract = contract
        self.graph = tf.Graph()
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in contract["inputs"]:
            groups.setdefault(item["dtype"], []).append(item)
        self._groups = [(dtype, [i["name"] for i in items]) for dtype, items in groups.items()]
        out = next(o["tensor"] for o in contract["outputs"] if o["name"] == "probabilities")
        with self.graph.as_default():
            fed, input_map = [], {}
            for dtype, items in groups.items():
                matrix = tf.compat.v1.placeholder(dtype, [None, len(items)], f"r2p_fed_{dtype}")
                fed.append(matrix)
                for item, column in zip(items, tf.unstack(matrix, axis=1), strict=True):
                    input_map[item["tensor"]] = column
            (self._output,) = tf.compat.v1.import_graph_def(
                graph_def, input_map=input_map, return_elements=[out], name=""
            )
        config = tf.compat.v1.ConfigProto(**SESSION_THREADS)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        # One public run (of no rows) adds the graph to the session before any direct call.
        empty = [np.zeros((0, len(names)), _NUMPY.get(d, d)) for d, names in self._groups]
        self.session.run(self._output, dict(zip(fed, empty, strict=True)))
        self.graph.finalize()
        self._call = _direct_runner(self.session, fed, self._output)

    @classmethod
    def load(cls, folder: Path) -> FrozenModel:
        """The model of a served version folder (``model.pb`` + ``contract.json``)."""
        contract = json.loads((folder / CONTRACT).read_text())
        return cls((folder / PB).read_bytes(), contract)

    def predict(self, inputs: dict[str, list]) -> np.ndarray:
        """Class probabilities for raw feature values (feature -> list of values)."""
        matrices = [
            np.ascontiguousarray(
                np.array([_values(dtype, inputs[n]) for n in names], _NUMPY.get(dtype, dtype)).T
            )
            for dtype, names in self._groups
        ]
        return self._call(*matrices)


class SavedModel:
    """The SavedModel's ``serving_default`` signature; same ``predict`` as FrozenModel."""

    def __init__(self, folder: Path) -> None:
        import tensorflow as tf

        self.contract = json.loads((folder / CONTRACT).read_text())
        self._fn = tf.saved_model.load(str(folder)).signatures["serving_default"]

    def predict(self, inputs: dict[str, list]) -> np.ndarray:
        feeds = feeds_for(self.contract, inputs)
        return self._fn(**feeds)["probabilities"].numpy()


def warmup_inputs(contract: dict[str, Any], rows: int = 8) -> dict[str, list]:
    """Requests that exercise every input: typical values, an unseen category, missing."""
    out: dict[str, list] = {}
    for item in contract["inputs"]:
        text = item["dtype"] == "string"
        base = ["", "an-unseen-category", None] if text else [0.0, 1.0, None]
        out[item["name"]] = [base[i % len(base)] for i in range(rows)]
    return out


def load_and_warm(folder: Path, saved_model: bool = False, rounds: int = 20) -> dict[str, Any]:
    """Load the version in ``folder``, answer warm-up requests, and check the answers."""
    t0 = time.perf_counter()
    model = SavedModel(folder) if saved_model else FrozenModel.load(folder)
    t1 = time.perf_counter()
    inputs = warmup_inputs(model.contract)
    for _ in range(rounds):
        proba = model.predict(inputs)
    t2 = time.perf_counter()
    n_classes = len(model.contract["classes"])
    ok = proba.shape == (len(next(iter(inputs.values()))), n_classes) and bool(
        np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    )
    return {
        "ok": ok,
        "error": None if ok else f"warm-up answers are not probabilities: shape {proba.shape}",
        "format": "saved_model" if saved_model else "frozen_pb",
        "load_ms": round((t1 - t0) * 1000, 2),
        "warm_ms": round((t2 - t1) * 1000 / rounds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load and warm one served model version.")
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--formats",
        default="frozen_pb",
        help="comma-separated: frozen_pb, saved_model (each loaded and warmed in turn)",
    )
    args = parser.parse_args(argv)
    reports = {}
    for fmt in args.formats.split(","):
        try:
            reports[fmt] = load_and_warm(args.folder, saved_model=fmt == "saved_model")
        except Exception as exc:  # reported as data: the caller refuses the model
            reports[fmt] = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "format": fmt}
    ok = all(r["ok"] for r in reports.values())
    errors = [f"{k}: {r['error']}" for k, r in reports.items() if not r["ok"]]
    print(json.dumps({"ok": ok, "error": "; ".join(errors) or None, "formats": reports}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
