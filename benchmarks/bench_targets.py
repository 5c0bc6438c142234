"""Model quality against simple models: the champion (or the rejected candidate) beside the
logistic-regression baseline and the gradient-boosted reference, on the same test rows.

Runs what a user runs, in a temporary home: ``r2p demo`` for the shipped pipelines (churn,
fleet) and, for the public tables that ship inside packages (palmerpenguins' penguins,
statsmodels' anes96 and modechoice), ``r2p init`` from the package's file, ``r2p land`` and
``r2p run`` with the draft unedited. Each pipeline's decision.json gives the figures: accuracy,
ROC AUC, log loss and F1 of the candidate, the baseline (``LogisticRegression``) and the
reference (``HistGradientBoostingClassifier``), and the paired-bootstrap intervals of the
candidate minus each. Targets (issue 20): log loss and accuracy not worse than the baseline
with confidence (the whole interval below zero), and accuracy within 1 point of the
reference. Prints a table on stderr and JSON on stdout.

    .venv/bin/python benchmarks/bench_targets.py [--only churn fleet penguins ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("churn", "fleet")
TABLES = {
    "penguins": (("palmerpenguins", "data", "penguins.csv"), "species"),
    "anes96": (("statsmodels", "datasets", "anes96", "anes96.csv"), "vote"),
    "modechoice": (("statsmodels", "datasets", "modechoice", "modechoice.csv"), "choice"),
}
METRICS = ("accuracy", "roc_auc", "log_loss", "f1")
MODELS = {"candidate": "r2p", "baseline": "LR", "reference_hgb": "HGB"}
DS = "2026-12-06"


def _package_file(package: str, *parts: str) -> Path:
    return Path(__import__(package).__file__).parent.joinpath(*parts)


def _decision(pipeline: str) -> dict:
    from r2p import storage

    folder = storage.root() / "evaluations" / pipeline
    pointers = [storage.pointer(f"evaluations/{pipeline}/{p.name}") for p in folder.iterdir()]
    newest = max((p for p in pointers if p), key=lambda p: p.get("committed_at", ""))
    return storage.read_json(storage.path(newest["uri"]) / "decision.json")


def _run(name: str, configs: Path, shipped: Path) -> None:
    from r2p.cli import main as cli

    with contextlib.redirect_stdout(sys.stderr):
        if name in SHIPPED:
            shutil.copy(shipped / f"{name}.yaml", configs / f"{name}.yaml")
            cli(["demo", "--pipeline", name])
            return
        where, label = TABLES[name]
        source = _package_file(*where)
        if cli(["init", name, "--from", str(source), "--label", label]) != 0:
            raise SystemExit(f"r2p init {name} failed")
        if cli(["land", name, str(source), "--ds", DS]) != 0:
            raise SystemExit(f"r2p land {name} failed")
        cli(["run", name])


def _row(name: str, decision: dict, seconds: float) -> dict:
    metrics = decision["metrics"]
    deltas = decision.get("deltas", {})
    out = {
        "dataset": name,
        "rows": decision.get("window", {}).get("rows"),
        "verdict": decision["verdict"],
        "reason": decision.get("reason"),
        "seconds": round(seconds, 1),
    }
    for who in MODELS:
        if who in metrics:
            out[who] = {m: metrics[who].get(m) for m in METRICS}
    worse = {}
    for m in ("log_loss", "accuracy"):
        d = deltas.get("vs_baseline", {}).get(m)
        worse[m] = None if d is None else d["improvement_high"] < 0  # worse with confidence
    out["worse_than_lr_with_confidence"] = worse
    if "reference_hgb" in metrics:
        gap = metrics["reference_hgb"]["accuracy"] - metrics["candidate"]["accuracy"]
        out["accuracy_below_hgb"] = round(gap, 4)
    out["targets_met"] = not any(worse.values()) and out.get("accuracy_below_hgb", 1.0) <= 0.01
    return out


def _table(rows: list[dict]) -> str:
    lines = [
        f"{'dataset':<11} {'model':<5} " + " ".join(f"{m:>9}" for m in METRICS),
    ]
    for row in rows:
        for who, label in MODELS.items():
            if who not in row:
                continue
            figures = " ".join(
                f"{row[who][m]:>9.4f}" if row[who][m] is not None else f"{'-':>9}" for m in METRICS
            )
            lines.append(f"{row['dataset']:<11} {label:<5} {figures}")
        lines.append(
            f"{'':<11} verdict {row['verdict']}; worse than LR with confidence: "
            f"{row['worse_than_lr_with_confidence']}; accuracy below HGB: "
            f"{row.get('accuracy_below_hgb')}; targets met: {row['targets_met']}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=[*SHIPPED, *TABLES])
    parser.add_argument(
        "--configs", type=Path, default=ROOT / "configs", help="where churn.yaml and fleet.yaml are"
    )
    args = parser.parse_args()
    unknown = sorted(set(args.only) - {*SHIPPED, *TABLES})
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {[*SHIPPED, *TABLES]}")
    from _common import quiet

    rows = []
    with tempfile.TemporaryDirectory(prefix="r2p-targets-") as tmp:
        configs = Path(tmp) / "configs"
        configs.mkdir()
        os.environ["R2P_HOME"] = str(Path(tmp) / "home")
        os.environ["R2P_CONFIGS"] = str(configs)
        quiet()
        for name in args.only:
            t0 = time.perf_counter()
            _run(name, configs, args.configs)
            rows.append(_row(name, _decision(name), time.perf_counter() - t0))
            print(_table(rows[-1:]), file=sys.stderr, flush=True)
    print(_table(rows), file=sys.stderr)
    print(json.dumps({"targets": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
