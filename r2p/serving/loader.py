"""Load and warm a served model version: the frozen ``.pb`` (default) or the SavedModel.

The one loader the model server and the promotion's publish step share: publishing runs
``python -m r2p.serving.loader <version folder>`` in a separate process, so a model this
loader cannot load and answer with never reaches the serving folder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

CONTRACT = "contract.json"
PB = "model.pb"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def feeds_for(contract: dict[str, Any], inputs: dict[str, list]) -> dict[str, np.ndarray]:
    """NumPy arrays per contract input from raw values (None/NaN = missing)."""
    out = {}
    for item in contract["inputs"]:
        values = inputs[item["name"]]
        out[item["name"]] = (
            np.array([(v if isinstance(v, str) else "").encode() for v in values], dtype=object)
            if item["dtype"] == "string"
            else np.array([np.nan if _missing(v) else v for v in values], dtype=np.float64)
        )
    return out


class FrozenModel:
    """A frozen GraphDef in its own graph and session; ``predict`` returns probabilities."""

    def __init__(self, pb: bytes, contract: dict[str, Any]) -> None:
        import tensorflow as tf

        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(pb)
        self.contract = contract
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self.session = tf.compat.v1.Session(graph=self.graph)
        self._inputs = {
            i["name"]: self.graph.get_tensor_by_name(i["tensor"]) for i in contract["inputs"]
        }
        out = next(o["tensor"] for o in contract["outputs"] if o["name"] == "probabilities")
        self._output = self.graph.get_tensor_by_name(out)

    @classmethod
    def load(cls, folder: Path) -> FrozenModel:
        """The model of a served version folder (``model.pb`` + ``contract.json``)."""
        contract = json.loads((folder / CONTRACT).read_text())
        return cls((folder / PB).read_bytes(), contract)

    def predict(self, inputs: dict[str, list]) -> np.ndarray:
        """Class probabilities for raw feature values (feature -> list of values)."""
        feeds = feeds_for(self.contract, inputs)
        return self.session.run(self._output, {self._inputs[k]: v for k, v in feeds.items()})


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
