"""Evaluation and promotion time per run at ~100k evaluation rows, and the bootstrap's share.

Generates churn days with enough entities that the candidate's evaluation window holds about
100k labelled rows, trains a champion and a candidate through the real stages (epochs cut to
two: the model is not what is measured), promotes the champion (first run), then times:
``evaluate_stage`` (three models scored, 1,000 paired resamples, report, commit, MLflow),
``promote`` of the candidate (register, aliases, serving build + loader check in a separate
process, commit, symlink switch, announcement) and a ``rollback``. The peer: the same
bootstrap done the obvious way, scikit-learn's metric functions on resampled rows, timed on
50 resamples and scaled to the configured count. Prints JSON.

    .venv/bin/python benchmarks/bench_evaluation.py [--entities 118000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time

START = dt.date(2026, 11, 2)


def main() -> int:
    from _common import quiet

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=118_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
        os.environ["R2P_HOME"] = tmp
        quiet()
        print(json.dumps(run(args.entities), indent=2))
    return 0


def _train(cfg, cutoff: dt.date, name: str) -> tuple[dict, dict]:
    from r2p.export.stage import export_stage
    from r2p.training.stage import prototype_stage, retrain_stage
    from r2p.training_set.build import build_training_set

    trigger = {"run_type": "manual", "promotable": True, "from_backfill": False}
    dataset = build_training_set(cfg, cutoff, name)
    dataset["trigger"] = trigger
    proto = prototype_stage(cfg, dataset, name)
    model = retrain_stage(cfg, dataset, name, proto, trigger)
    return dataset, export_stage(cfg, dataset, name, model)


def _sklearn_bootstrap_seconds(decision_uri: str, samples: int, probe: int = 50) -> float:
    """The obvious bootstrap: resample rows, call scikit-learn's metrics, per model."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    from r2p import storage
    from r2p.evaluation.window import evaluation_window, model_inputs
    from r2p.export.export import CONTRACT
    from r2p.export.predict import pb_probabilities

    decision = storage.read_json(storage.path(decision_uri))
    from r2p.config import load_pipeline

    cfg = load_pipeline("churn")
    window = evaluation_window(cfg, decision["candidate"], decision["champion"])
    rows = window.frame
    y = (rows[cfg.dataset.label.column].astype(str) == cfg.dataset.label.classes[-1]).to_numpy()
    probas = []
    for ref in (decision["candidate"], decision["champion"]):
        contract = storage.read_json(storage.path(ref["export_uri"]) / CONTRACT)
        probas.append(pb_probabilities(ref["pb_uri"], contract, model_inputs(ref, rows)))
    probas.append(probas[0])  # a third model, as r2p scores the baseline too
    rng = np.random.default_rng(0)
    n = len(y)
    t0 = time.perf_counter()
    for _ in range(probe):
        idx = rng.integers(0, n, n)
        for p in probas:
            yy, pp = y[idx], p[idx]
            roc_auc_score(yy, pp[:, 1])
            log_loss(yy, pp, labels=[0, 1])
            accuracy_score(yy, pp.argmax(1))
            f1_score(yy, pp.argmax(1))
    return (time.perf_counter() - t0) / probe * samples


def run(entities: int) -> dict:
    from r2p.config import load_pipeline
    from r2p.evaluation.stage import evaluate_stage
    from r2p.export.lineage import describe
    from r2p.ingest.stage import ingest_source
    from r2p.intervals import day_interval
    from r2p.promotion import promote as p
    from r2p.sample.landing import generate_days

    cfg = load_pipeline("churn")
    spec = cfg.models[0].model_copy(update={"epochs": 2})
    cfg = cfg.model_copy(
        update={
            "models": [spec],
            "training": cfg.training.model_copy(update={"window_days": 9}),
        }
    )
    days = 12
    t0 = time.perf_counter()
    generate_days(cfg, START, days, entities=entities)
    for i in range(days):
        for source in cfg.source_names:
            ingest_source(cfg, source, day_interval(START + dt.timedelta(days=i)), "bench")
    data_s = time.perf_counter() - t0
    _, champion_export = _train(cfg, START + dt.timedelta(days=9), "champion")
    t0 = time.perf_counter()
    p.promote(cfg, describe(champion_export["uri"]), reason="benchmark: first champion")
    first_promotion_s = time.perf_counter() - t0
    dataset, export = _train(cfg, START + dt.timedelta(days=12), "candidate")
    t0 = time.perf_counter()
    ev = evaluate_stage(cfg, dataset, "bench", export)
    evaluate_s = time.perf_counter() - t0
    from r2p import storage

    decision = storage.read_json(storage.path(ev["decision_uri"]))
    t0 = time.perf_counter()
    promoted = p.promote(cfg, describe(export["uri"]), reason="benchmark: candidate")
    promote_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    p.rollback(cfg, reason="benchmark: rollback")
    rollback_s = time.perf_counter() - t0
    samples = cfg.gates.improvement.bootstrap_samples
    boot_s = decision["timings"]["bootstrap_seconds"]
    peer_s = _sklearn_bootstrap_seconds(ev["decision_uri"], samples)
    return {
        "entities": entities,
        "evaluation_rows": decision["window"]["rows"],
        "verdict": decision["verdict"],
        "bootstrap_samples": samples,
        "seconds": {
            "data_generation_and_ingest": round(data_s, 2),
            "evaluate_stage": round(evaluate_s, 2),
            "of_which_evaluate": decision["timings"]["evaluate_seconds"],
            "of_which_bootstrap": boot_s,
            "promote": round(promote_s, 2),
            "first_promotion": round(first_promotion_s, 2),
            "rollback": round(rollback_s, 2),
        },
        "bootstrap_share_of_evaluate_stage": round(boot_s / evaluate_s, 3),
        "peer_sklearn_bootstrap_seconds": round(peer_s, 2),
        "ratio_r2p_bootstrap_to_sklearn": round(boot_s / peer_s, 3),
        "promoted_version": promoted["champion"]["registry_version"],
    }


if __name__ == "__main__":
    raise SystemExit(main())
