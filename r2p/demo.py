"""``make demo``: the main job on the embedded default, in the home under ``R2P_HOME``.

It writes days of sample data for every pipeline into the landing zone, runs each pipeline's
data DAG through Airflow (``dag.test()``, what ``airflow dags test`` runs, on SQLite) for
every day, then its training DAG once for the newest day, and prints per run and stage: rows
accepted and quarantined, timings, the training set's splits, both models' test metrics, and
where the artifacts are.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from r2p.config import load_all, load_pipeline
from r2p.home import home, landing_uri, storage_uri
from r2p.orchestration.dagtest import DagTestResult, run_dag_tests
from r2p.runner import RunInfo, manifest, run_stage
from r2p.sample.landing import generate_days


def _stage_line(name: str, rec: dict[str, Any]) -> str:
    out = rec.get("outputs") or {}
    rows = ""
    if isinstance(out, dict) and "rows_accepted" in out:
        rows = f"{out['rows_landed']:>8} {out['rows_accepted']:>8} {out['rows_quarantined']:>6}"
    elif isinstance(out, dict) and "sources" in out:
        rows = f"{sum(s['rows'] for s in out['sources'].values()):>8} {'suite ok':>15}"
    elif isinstance(out, dict) and out.get("status") == "not_due":
        rows = f"{'not due':>8}"
    status = rec["status"] if rec["status"] != "success" else "ok"
    return (
        f"    {name:<22} {status:<7} {rows:<24} {rec['wall_seconds']:>7.2f}s "
        f"{rec['peak_rss_bytes'] / 2**20:>6.0f} MiB"
    )


def print_run(result: DagTestResult, pipeline: str) -> None:
    """One run's outcome and its stages, from the run manifest."""
    print(
        f"  ds={result.ds}  {result.dag_id}  {result.state or 'did not finish'}  "
        f"run_id={result.run_id}"
    )
    if result.run_id:
        stages = manifest(RunInfo(pipeline, result.run_id))["stages"]
        if stages:
            print(
                f"    {'stage':<22} {'status':<7} {'landed':>8} {'accepted':>8} {'quar.':>6}"
                f"{'':>2} {'wall':>8} {'peak':>10}"
            )
        for name, rec in stages.items():
            print(_stage_line(name, rec))
            if rec.get("error"):
                print(f"      {rec['error']['type']}: {rec['error']['message'][:400]}")
        skipped = sorted(t for t, (s, _) in result.task_states.items() if s == "skipped")
        if skipped:
            print(f"    skipped (source not due): {', '.join(skipped)}")
        failed = [
            f"{t} ({s})"
            for t, (s, _) in sorted(result.task_states.items())
            if s not in ("success", "skipped")
        ]
        if failed:
            print(f"    tasks not successful: {', '.join(failed)}")
    if not result.ok:
        print(f"    airflow output: {result.log_file}")


def min_days_for_training(cfg: Any) -> int:
    """Days of data before a training set has train, valid and test days with features."""
    split = cfg.training.split
    if split.method == "random":  # every day holds all three splits
        return cfg.dataset.label.delay_days + 1
    return cfg.dataset.label.delay_days + split.valid_days + split.test_days + 1


def print_training(result: DagTestResult, pipeline: str) -> None:
    """The training run: its training set's splits and both frameworks' test metrics."""
    print(
        f"  training run for cutoff {result.ds + dt.timedelta(days=1)}: "
        f"{result.state or 'did not finish'}  run_id={result.run_id}"
    )
    stages = manifest(RunInfo(pipeline, result.run_id))["stages"] if result.run_id else {}
    ts = (stages.get("training_set") or {}).get("outputs") or {}
    if isinstance(ts, dict) and "manifest" in ts:
        m = ts["manifest"]
        print(
            f"    training set {m['feature_service']}: {m['rows']} rows, "
            f"content {m['content_hash'][:12]}, manifest {ts['manifest_uri']}"
        )
        for name, s in m["splits"].items():
            print(
                f"      {name:<5} {s['rows']:>6} rows {s['entities']:>5} entities  "
                f"{(s['from'] or '')[:10]} .. {(s['to'] or '')[:10]}  {s['classes']}"
            )
    for label, rec in _records(stages, ("eager_check", "prototype", "retrain")):
        out = rec.get("outputs") if isinstance(rec.get("outputs"), dict) else {}
        test = (out.get("metrics") or {}).get("test", {})
        shown = ", ".join(f"{k} {v:.3f}" for k, v in test.items())
        extra = f"  test: {shown}" if shown else ""
        if label.startswith("retrain") and out:
            extra += f"  traces {out.get('traces')}  mlflow run {out.get('mlflow_run_id')}"
        print(f"    {label:<12} {rec['status']:<8} {rec['wall_seconds']:>7.2f}s{extra}")
        if rec.get("error"):
            print(f"      {rec['error']['type']}: {rec['error']['message'][:400]}")
    _print_export(stages)
    _print_promotion(stages, pipeline)
    if not result.ok:
        print(f"    airflow output: {result.log_file}")


def _records(stages: dict[str, Any], names: tuple[str, ...]) -> list[tuple[str, dict]]:
    """The stage records of ``names`` in that order, each candidate's (``prototype[wide]``)
    after one another."""
    return [
        (label, stages[label])
        for name in names
        for label in sorted(stages)
        if label == name or label.startswith(f"{name}[")
    ]


def _print_export(stages: dict[str, Any]) -> None:
    """Export, infra-validation and parity lines of a training run."""
    for label, rec in _records(stages, ("export", "infra_validate", "parity")):
        name = label.split("[", 1)[0]
        out = rec.get("outputs") if isinstance(rec.get("outputs"), dict) else {}
        if name == "export" and out:
            extra = f"  .pb {out['pb_bytes']} bytes sha256 {out['pb_sha256'][:12]}  {out['uri']}"
        elif name == "infra_validate" and out:
            extra = (
                f"  max |pb - SavedModel| {out['max_abs_diff']:.1e}, batch-1 "
                f"{out['latency_ms']['batch_1_p50']} ms, batch-256 "
                f"{out['latency_ms']['batch_256_p50']} ms"
            )
        elif out:
            extra = (
                f"  {out['metric']} TF {out['tensorflow']:.4f} vs PyTorch "
                f"{out['pytorch']:.4f}, agreement {out['agreement']:.1%}"
            )
        else:
            extra = ""
        print(f"    {label:<14} {rec['status']:<8} {rec['wall_seconds']:>7.2f}s{extra}")
        if rec.get("error"):
            print(f"      {rec['error']['type']}: {rec['error']['message'][:400]}")


def _print_promotion(stages: dict[str, Any], pipeline: str) -> None:
    """The evaluation's verdict and what the promotion did."""
    ev = (stages.get("evaluate") or {}).get("outputs")
    if isinstance(ev, dict) and ev:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in ev["metrics"].items() if v is not None)
        print(
            f"    evaluate       {ev['verdict']}: {ev['reason'][:160]}\n"
            f"      {ev['rows']} rows, {ev['metric']}: {shown}\n      report {ev['report_uri']}"
        )
    pr = (stages.get("promote") or {}).get("outputs")
    if isinstance(pr, dict) and pr.get("promoted"):
        print(
            f"    promote        champion v{pr['version']} (previous v{pr['previous_version']}), "
            f"served from {pr['served']['path']}; roll back: "
            f"r2p promotion rollback {pipeline} --reason ..."
        )
    elif isinstance(pr, dict):
        print(f"    promote        not promoted: {pr['why'][:160]}")


def run_demo(days: int = 12, end: dt.date | None = None, pipelines: list[str] | None = None) -> int:
    """Sample ``days`` days ending ``end`` (default: yesterday, UTC), then run the data DAGs."""
    end = end or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    cfgs = [load_pipeline(p) for p in pipelines] if pipelines else load_all()
    print(
        f"r2p demo: home {home()}\n          storage {storage_uri()}\n"
        f"          landing {landing_uri()}\n          days {start} .. {end}\n"
    )
    failures, outcomes = 0, {}
    for cfg in cfgs:
        written = run_stage(
            RunInfo(cfg.pipeline, f"sample__{end.isoformat()}"),
            "sample",
            generate_days,
            cfg,
            start,
            days,
        )
        print(
            f"{cfg.pipeline}: {cfg.description}\n  landed {len(written)} partitions, "
            f"{sum(s.rows for s in written)} rows, contracts "
            f"{sorted({s.contract or 'NONE' for s in written})}"
        )
        partitions = [start + dt.timedelta(days=i) for i in range(days)]
        for result in run_dag_tests(f"{cfg.pipeline}_data", partitions):
            print_run(result, cfg.pipeline)
            failures += not result.ok
        needed = min_days_for_training(cfg)
        if days < needed:
            outcomes[cfg.pipeline] = f"training skipped ({days} day(s) loaded, {needed} needed)"
            print(
                f"  training skipped: {days} day(s) loaded, a train split needs at least "
                f"{needed} (label delay {cfg.dataset.label.delay_days} + valid "
                f"{cfg.training.split.valid_days} + test {cfg.training.split.test_days} + 1)"
            )
        else:
            (training,) = run_dag_tests(f"{cfg.pipeline}_training", [end])
            print_training(training, cfg.pipeline)
            failures += not training.ok
            outcomes[cfg.pipeline] = training_outcome(training, cfg.pipeline)
        print(f"  offline partitions: {storage_uri()}/offline/{cfg.dataset.name}/")
        print(f"  validation results and Data Docs: {storage_uri()}/validation/{cfg.dataset.name}/")
        print(f"  quarantine: {storage_uri()}/quarantine/{cfg.dataset.name}/\n")
    print(closing(failures, outcomes))
    return 1 if failures else 0


def training_outcome(result: DagTestResult, pipeline: str) -> str:
    """``promoted, champion vN``, or why no model was promoted: the deciding check and its
    figures ("rejected: baseline_guard — log_loss 0.5120 vs baseline 0.4310 (...)")."""
    from r2p.evaluation.gates import told

    stages = manifest(RunInfo(pipeline, result.run_id))["stages"] if result.run_id else {}
    ev = (stages.get("evaluate") or {}).get("outputs")
    pr = (stages.get("promote") or {}).get("outputs")
    if isinstance(pr, dict) and pr.get("promoted"):
        return f"promoted, champion v{pr['version']}"
    if isinstance(ev, dict) and ev.get("verdict"):
        if ev["verdict"] == "promote":  # the gates passed; the promotion refused or failed
            why = pr.get("why") if isinstance(pr, dict) else "the promote task did not finish"
            return f"not promoted: {why}"
        return told(ev["verdict"], ev["reason"], ev.get("champion_version"))
    return f"training failed ({result.state or 'did not finish'}): no model promoted"


def closing(failures: int, outcomes: dict[str, str]) -> str:
    """The demo's last lines: whether every run succeeded, and per pipeline whether a model
    was promoted and, when none was, why (never a bare "every run succeeded" then)."""
    head = "demo finished" + (
        f" with {failures} failed run(s)" if failures else ": every run succeeded"
    )
    if not outcomes:
        return head
    kept = [p for p, o in outcomes.items() if not o.startswith("promoted")]
    tail = (
        f", but no model was promoted for {len(kept)} of {len(outcomes)} pipeline(s)"
        if kept
        else "; every pipeline promoted a model"
    )
    return "\n".join([head + tail, *(f"  {p}: {o}" for p, o in outcomes.items())])
