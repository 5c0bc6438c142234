"""``r2p train`` and ``r2p run``: a pipeline's DAGs run through Airflow from the shell.

``r2p train PIPELINE [--cutoff D]`` runs ``<pipeline>_training`` once (``airflow dags test``,
logical date = the cutoff, default today UTC); ``r2p run PIPELINE [--ds D --days N]`` runs
``<pipeline>_data`` for each day (default: the days with landing partitions), then the
training DAG once with cutoff = last day + 1. Each prints its stages' outcomes and the
verdict: promoted, rejected (with the reason) or failed (the failing task and its message).

Exit status: 0 for a finished run (promoted, or rejected with a reason), 1 for a failed one
(a data or training DAG run failed), 2 for usage or config errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from r2p.cli_args import date_arg as _date
from r2p.cli_args import positive_arg as _positive
from r2p.orchestration.stages import task_order

TRAINING_TASKS = task_order("training")  # the stage table's order, notify last
FAILED = ("failed", "upstream_failed")


def add_parser(sub: Any) -> None:
    """The ``r2p train`` and ``r2p run`` subcommands."""
    train = sub.add_parser(
        "train", help="run a pipeline's training DAG through Airflow; prints the verdict"
    )
    train.add_argument("pipeline")
    train.add_argument(
        "--cutoff",
        type=_date,
        help="labels that arrived before this day are used (YYYY-MM-DD; default: today, UTC)",
    )
    train.add_argument("--json", action="store_true", help="a JSON summary instead of text")
    run_ = sub.add_parser(
        "run", help="run a pipeline's data DAG for each day, then its training DAG once"
    )
    run_.add_argument("pipeline")
    run_.add_argument("--ds", type=_date, help="first partition (default: the landed days)")
    run_.add_argument(
        "--days",
        type=_positive,
        help="partitions from --ds (default 1); without --ds: the newest N landed days",
    )
    run_.add_argument("--json", action="store_true", help="a JSON summary instead of text")


def landed_days(cfg: Any) -> list[dt.date]:
    """Days with a complete landing partition (its contract file is there) of any source."""
    from r2p.ingest.contract import MANIFEST, SUCCESS, partition_path

    days: set[dt.date] = set()
    for source in cfg.source_names:
        folder = partition_path(cfg, source, dt.date(2000, 1, 1)).parent
        if not folder.exists():
            continue
        for part in folder.iterdir():
            if not part.name.startswith("ds="):
                continue
            try:
                day = dt.date.fromisoformat(part.name.removeprefix("ds="))
            except ValueError:
                continue
            if (part / MANIFEST).exists() or (part / SUCCESS).exists():
                days.add(day)
    return sorted(days)


def _failure(result: Any, stages: dict[str, Any], order: tuple[str, ...] = ()) -> dict:
    """The first task that failed (in ``order``, then by name) and its error message."""
    states = {t: s for t, (s, _) in result.task_states.items()}
    failed = [t for t, s in states.items() if s == "failed"] or [
        t for t, s in states.items() if s in FAILED
    ]
    failed.sort(
        key=lambda t: (order.index(b) if (b := t.split("[")[0]) in order else len(order), t)
    )
    task = failed[0] if failed else None
    error = (stages.get(task) or {}).get("error") if task else None
    if error:
        message = f"{error['type']}: {error['message']}"
    elif task:
        message = f"task {task} {states[task]} (see the Airflow output)"
    else:
        message = f"the run did not finish ({result.state or 'no run state'})"
    return {"failed_task": task, "message": message[:2000]}


def _stages(result: Any, pipeline: str) -> dict[str, Any]:
    from r2p.runner import RunInfo, manifest

    return manifest(RunInfo(pipeline, result.run_id))["stages"] if result.run_id else {}


def _failed(result: Any) -> bool:
    return not result.ok or any(s in FAILED for s, _ in result.task_states.values())


def data_summary(result: Any, pipeline: str) -> dict[str, Any]:
    """One data DAG run as JSON: its state, tasks and, when it failed, why."""
    out: dict[str, Any] = {
        "ds": result.ds.isoformat(),
        "dag_id": result.dag_id,
        "run_id": result.run_id,
        "state": result.state,
        "ok": not _failed(result),
        "tasks": {t: s for t, (s, _) in sorted(result.task_states.items())},
        "log_file": str(result.log_file),
    }
    if _failed(result):
        out.update(_failure(result, _stages(result, pipeline)))
    return out


def training_summary(result: Any, pipeline: str) -> dict[str, Any]:
    """The training run's outcome: ``promoted``, ``rejected`` (with the reason, and ``told``:
    the deciding check and its figures, what became of the champion) or ``failed`` (the
    failing task and its message), from its tasks and stage records."""
    stages = _stages(result, pipeline)
    states = {t: s for t, (s, _) in result.task_states.items()}
    out: dict[str, Any] = {
        "dag_id": result.dag_id,
        "cutoff": (result.ds + dt.timedelta(days=1)).isoformat(),
        "run_id": result.run_id,
        "state": result.state,
        "tasks": {t: states[t] for t in sorted(states, key=_order)},
        "log_file": str(result.log_file),
    }
    ev = (stages.get("evaluate") or {}).get("outputs")
    pr = (stages.get("promote") or {}).get("outputs")
    ev = ev if isinstance(ev, dict) else {}
    pr = pr if isinstance(pr, dict) else {}
    if ev:
        out["evaluation"] = {
            k: ev.get(k)
            for k in (
                "verdict",
                "reason",
                "metric",
                "metrics",
                "rows",
                "report_uri",
                "candidate_model",
                "candidates",
                "champion_version",
            )
        }
    if _failed(result):
        out.update(outcome="failed", **_failure(result, stages, TRAINING_TASKS))
    elif pr.get("promoted"):
        out.update(
            outcome="promoted",
            reason=ev.get("reason") or pr.get("why"),
            version=pr.get("version"),
            previous_version=pr.get("previous_version"),
        )
    elif ev or pr:
        out.update(outcome="rejected", reason=pr.get("why") or f"{ev['verdict']}: {ev['reason']}")
        out["told"] = _told(ev, pr)
    else:
        out.update(
            outcome="failed",
            failed_task=None,
            message="the run finished without an evaluation (see the Airflow output)",
        )
    return out


def _told(ev: dict[str, Any], pr: dict[str, Any]) -> str:
    """What ``r2p train`` tells of a rejection: "rejected: <check> — <figures>; champion vN
    kept" (or why there is no champion)."""
    from r2p.evaluation.gates import REJECT, told

    if ev.get("verdict") and ev.get("reason"):
        if ev["verdict"] == "promote":  # the evaluation passed; the promotion refused it
            return told(REJECT, f"promotion: {pr.get('why')}", ev.get("champion_version"))
        return told(ev["verdict"], ev["reason"], ev.get("champion_version"))
    return f"rejected: {pr.get('why')}"


def _order(task: str) -> tuple[int, str]:
    return _position(task, TRAINING_TASKS)


def _position(task: str, order: tuple[str, ...]) -> tuple[int, str]:
    """Where ``task`` (or ``task[<model>]``, a candidate's instance) sits in ``order``."""
    base = task.split("[", 1)[0]
    return (order.index(base) if base in order else len(order), task)


def verdict_line(summary: dict[str, Any]) -> str:
    """``verdict: promoted ...`` / ``rejected: <check> — <figures>; champion ...`` /
    ``failed: task: message``."""
    if summary["outcome"] == "promoted":
        prev = summary.get("previous_version")
        return (
            f"verdict: promoted, champion v{summary.get('version')}"
            f"{f' (previous v{prev})' if prev else ''}: {summary.get('reason')}"
        )
    if summary["outcome"] == "rejected":
        return f"verdict: {summary.get('told') or 'rejected: ' + summary['reason']}"
    task = summary.get("failed_task")
    line = f"verdict: failed{f' at {task}' if task else ''}: {summary['message']}"
    ev = summary.get("evaluation") or {}
    if ev.get("verdict"):  # a candidate failed; the others were evaluated all the same
        line += f"\n  the other candidates: {ev['verdict']} {ev.get('candidate_model') or ''}"
        line += f": {ev.get('reason')}"
    return line


class _Out:
    """Human output on stdout; with ``--json`` progress goes to stderr, the JSON to stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def progress(self, text: str) -> None:
        print(text, file=sys.stderr if self.as_json else sys.stdout, flush=True)

    def human(self, fn: Any, *args: Any) -> None:
        if not self.as_json:
            fn(*args)
            sys.stdout.flush()


def _train(cfg: Any, cutoff: dt.date, out: _Out) -> dict[str, Any]:
    from r2p.demo import print_training
    from r2p.orchestration.dagtest import run_dag_test

    dag_id = f"{cfg.pipeline}_training"
    out.progress(f"{dag_id}: training with cutoff {cutoff} (airflow dags test, ~1 min) ...")
    result = run_dag_test(dag_id, cutoff - dt.timedelta(days=1))
    summary = training_summary(result, cfg.pipeline)
    out.human(print_training, result, cfg.pipeline)
    tasks = ", ".join(f"{t} {s}" for t, s in summary["tasks"].items())
    out.human(print, f"    tasks: {tasks or 'none ran'}")
    out.human(print, f"  {verdict_line(summary)}")
    return summary


def _days(args: argparse.Namespace, cfg: Any) -> list[dt.date] | str:
    """The partitions to run, or why there are none."""
    if args.ds is not None:
        return [args.ds + dt.timedelta(days=i) for i in range(args.days or 1)]
    landed = landed_days(cfg)
    if not landed:
        from r2p.home import landing_uri

        return (
            f"no landing partitions for {cfg.pipeline} under {landing_uri()}/"
            f"{cfg.dataset.name}/: land data first (`r2p land {cfg.pipeline} FILE`, or "
            f"`r2p sample {cfg.pipeline} --start YYYY-MM-DD --days N`), or pass --ds"
        )
    return landed[-args.days :] if args.days else landed


def run(args: argparse.Namespace) -> int:
    """``r2p train`` / ``r2p run``: 0 finished, 1 a run failed, 2 usage or config error."""
    from r2p.config import load_pipeline

    cfg = load_pipeline(args.pipeline)  # a ConfigError: the CLI prints it, exit 2
    out = _Out(args.json)
    if args.command == "train":
        cutoff = args.cutoff or dt.datetime.now(dt.UTC).date()
        summary = {"pipeline": cfg.pipeline, "training": _train(cfg, cutoff, out)}
        code = 1 if summary["training"]["outcome"] == "failed" else 0
    else:
        days = _days(args, cfg)
        if isinstance(days, str):
            print(f"r2p: error: {days}", file=sys.stderr)
            return 2
        summary = _run(cfg, days, out)
        failed = not all(d["ok"] for d in summary["data"])
        code = 1 if failed or summary["training"]["outcome"] == "failed" else 0
    if args.json:
        print(json.dumps({**summary, "exit_code": code}, indent=2, default=str))
    return code


def _run(cfg: Any, days: list[dt.date], out: _Out) -> dict[str, Any]:
    from r2p.demo import print_run
    from r2p.orchestration.dagtest import run_dag_tests

    dag_id = f"{cfg.pipeline}_data"
    span = f"{days[0]}" if len(days) == 1 else f"{days[0]} .. {days[-1]}"
    out.progress(
        f"{dag_id}: {len(days)} partition(s) {span} (airflow dags test, ~20-60 s a day) ..."
    )
    results = run_dag_tests(dag_id, days)
    for result in results:
        out.human(print_run, result, cfg.pipeline)
    data = [data_summary(r, cfg.pipeline) for r in results]
    summary: dict[str, Any] = {"pipeline": cfg.pipeline, "days": [d.isoformat() for d in days]}
    summary["data"] = data
    bad = [d for d in data if not d["ok"]]
    if bad:
        first = bad[0]
        message = (
            f"data DAG failed for ds={first['ds']}"
            f"{f' at {t}' if (t := first.get('failed_task')) else ''}: {first.get('message')}"
        )
        summary["training"] = {
            "outcome": "failed",
            "failed_task": None,
            "message": f"not run: {message}",
        }
        out.human(print, f"  training not run: {message}")
        out.human(print, f"  verdict: failed: {message}")
        return summary
    summary["training"] = _train(cfg, days[-1] + dt.timedelta(days=1), out)
    return summary
