"""The ``r2p`` command line: a thin layer over the stage functions.

Bad arguments exit with status 2 and one line saying what is wrong; nothing is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence

from r2p.cli_args import date_arg as _date
from r2p.cli_args import positive_arg as _positive


def _reason(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("a reason must say something (it is kept in the record)")
    return text.strip()


def _defect(text: str):
    """``KIND[:SOURCE[:YYYY-MM-DD]]`` as a landing Defect."""
    from r2p.sample.landing import Defect

    kind, _, rest = text.partition(":")
    source, _, day = rest.partition(":")
    try:
        return Defect(kind, source or None, _date(day) if day else None)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="r2p", description="r2p: research to production.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cfg = sub.add_parser("config", help="show, validate or list defaults of pipeline configs")
    cfg_sub = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = cfg_sub.add_parser("show", help="print a pipeline's resolved config as JSON")
    show.add_argument("pipeline", help="pipeline name (configs/<name>.yaml) or a YAML path")
    val = cfg_sub.add_parser("validate", help="validate configs (all in configs/ by default)")
    val.add_argument("paths", nargs="*", help="YAML files; default: every file in configs/")
    cfg_sub.add_parser("defaults", help="print every default, from the one place they live")

    smp = sub.add_parser("sample", help="generate sample data into the landing zone")
    smp.add_argument("pipeline")
    smp.add_argument("--start", type=_date, required=True, help="first day (YYYY-MM-DD)")
    smp.add_argument("--days", type=_positive, default=1)
    smp.add_argument("--entities", type=_positive, help="entities (rows per snapshot day)")
    smp.add_argument("--seed", type=int)
    smp.add_argument("--drift-from", type=_date, help="labels from this day on are drifted")
    smp.add_argument(
        "--defect",
        type=_defect,
        action="append",
        default=[],
        metavar="KIND[:SOURCE[:DATE]]",
        help="inject a defect (repeatable)",
    )

    demo = sub.add_parser("demo", help="the main job on the embedded default")
    demo.add_argument("--days", type=_positive, default=12)
    demo.add_argument("--end", type=_date, help="last day (default: yesterday, UTC)")
    demo.add_argument("--pipeline", action="append", help="default: every config")

    data = sub.add_parser("data-run", help="run a pipeline's data DAG for partitions (dags test)")
    data.add_argument("pipeline")
    data.add_argument("--ds", type=_date, required=True, help="first partition (YYYY-MM-DD)")
    data.add_argument("--days", type=_positive, default=1)

    ts = sub.add_parser("training-set", help="build a point-in-time training set and show it")
    ts.add_argument("pipeline")
    ts.add_argument(
        "--cutoff",
        type=_date,
        required=True,
        help="labels that arrived before this day (YYYY-MM-DD) are used",
    )
    ts.add_argument("--model", help="model name (default: the first in the config)")

    runs = sub.add_parser("runs", help="a run's manifest, or training runs side by side")
    runs_sub = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    show_run = runs_sub.add_parser("show", help="a run's manifest (stage records)")
    show_run.add_argument("pipeline")
    show_run.add_argument("run_id")
    listing = runs_sub.add_parser(
        "list", help="recent runs: per-stage wall time, CPU time and peak memory"
    )
    listing.add_argument("pipeline")
    listing.add_argument("--last", type=_positive, default=10)
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    cmp = runs_sub.add_parser("compare", help="the newest MLflow training runs as a table")
    cmp.add_argument("pipeline")
    cmp.add_argument("--last", type=_positive, default=5)

    prom = sub.add_parser("promotion", help="the champion: status, history, rollback, force")
    prom_sub = prom.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("status", "the committed champion, previous champion, open intent, served version"),
        ("history", "every promotion, rollback and force: who, when, why"),
    ):
        prom_sub.add_parser(name, help=text).add_argument("pipeline")
    for name, text in (
        ("rollback", "make previous_champion the champion again"),
        ("force", "make a registry version the champion, skipping the gates"),
        ("reconcile", "abandon a dead intent; bring aliases and serving folder to the record"),
    ):
        act = prom_sub.add_parser(name, help=text)
        act.add_argument("pipeline")
        act.add_argument("--reason", type=_reason, required=True, help="kept in the record")
        act.add_argument("--who", help="default: user@host")
        if name == "force":
            act.add_argument("--version", type=_positive, required=True, help="registry version")
    from r2p.landing.cli import add_parser as add_land

    add_land(sub)
    from r2p.stack.cli import add_parser as add_stack

    add_stack(sub)
    from r2p.draft.cli import add_parser as add_init

    add_init(sub)
    from r2p.orchestration.shell import add_parser as add_shell

    add_shell(sub)  # r2p train, r2p run
    from r2p.orchestration.stages_cli import add_parser as add_stages

    add_stages(sub)
    from r2p.readiness import add_parser as add_ready

    add_ready(sub)
    feast = sub.add_parser(
        "feast", help="Feast's CLI on the backends the environment selects (plan, apply ...)"
    )
    feast.add_argument("feast_args", nargs=argparse.REMAINDER, help="passed to feast")
    return p


def _cmd_config(args: argparse.Namespace) -> int:
    from r2p.config import loader

    if args.action == "defaults":
        print(loader.defaults_json())
    elif args.action == "show":
        print(loader.resolved_json(loader.load_pipeline(args.pipeline)))
    else:
        paths = args.paths or sorted(loader.configs_dir().glob("*.yaml"))
        for path in paths:
            cfg = loader.load_config(path)
            print(f"ok  {path}  ({cfg.pipeline}: {len(cfg.feature_columns)} features)")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from r2p.config import load_pipeline
    from r2p.sample.landing import generate_days

    cfg = load_pipeline(args.pipeline)
    known = set(cfg.source_names)
    for d in args.defect:
        if d.source and d.source not in known:
            raise SystemExit(
                f"r2p: error: --defect source {d.source!r} is not one of {sorted(known)}"
            )
    written = generate_days(
        cfg,
        args.start,
        args.days,
        entities=args.entities,
        seed=args.seed,
        drift_from=args.drift_from,
        inject=args.defect,
    )
    for s in written:
        extra = f"  defects={','.join(s.defects)}" if s.defects else ""
        print(f"{s.source:<16} ds={s.ds}  rows={s.rows:>8}  contract={s.contract}{extra}  {s.uri}")
    return 0


def _cmd_data_run(args: argparse.Namespace) -> int:
    from r2p.config import load_pipeline
    from r2p.demo import print_run
    from r2p.orchestration.dagtest import run_dag_tests

    cfg = load_pipeline(args.pipeline)
    days = [args.ds + dt.timedelta(days=i) for i in range(args.days)]
    results = run_dag_tests(f"{cfg.pipeline}_data", days)
    for result in results:
        print_run(result, cfg.pipeline)
    return 0 if all(r.ok for r in results) else 1


def _cmd_training_set(args: argparse.Namespace) -> int:
    from r2p.config import load_pipeline
    from r2p.errors import DataError
    from r2p.runner import RunInfo, run_stage
    from r2p.training_set.build import build_training_set

    cfg = load_pipeline(args.pipeline)
    if args.model and args.model not in {m.name for m in cfg.models}:
        raise SystemExit(f"r2p: error: --model {args.model!r} is not one of the config's models")
    run = RunInfo(cfg.pipeline, f"training_set__{args.cutoff.isoformat()}")
    try:
        out = run_stage(
            run, "training_set", build_training_set, cfg, args.cutoff, run.run_id, args.model
        )
    except DataError as exc:
        print(f"r2p: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out["manifest"], indent=2))
    print(f"dataset {out['dataset_uri']}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    if args.action == "list":
        from r2p.config import load_pipeline
        from r2p.runs_overview import recent_runs, table

        runs = recent_runs(load_pipeline(args.pipeline).pipeline, args.last)
        print(json.dumps(runs, indent=2) if args.json else table(runs))
        return 0
    if args.action == "compare":
        from r2p.config import load_pipeline
        from r2p.training.compare_table import table
        from r2p.training.tracking import compare

        print(table(compare(load_pipeline(args.pipeline).pipeline, args.last)))
        return 0
    from r2p.runner import RunInfo, manifest

    print(json.dumps(manifest(RunInfo(args.pipeline, args.run_id)), indent=2, default=str))
    return 0


def _cmd_promotion(args: argparse.Namespace) -> int:
    from r2p.config import load_pipeline
    from r2p.errors import DataError
    from r2p.promotion import promote as p
    from r2p.promotion.record import LockTimeout

    cfg = load_pipeline(args.pipeline)
    if args.action == "status":
        print(json.dumps(p.status(cfg.pipeline), indent=2, default=str))
        return 0
    if args.action == "history":
        for h in p.history(cfg.pipeline):
            print(
                f"{h['seq']:>5}  {h['at'][:19]}  {h['kind']:<9} {h['action'] or '-':<9} "
                f"v{h['version'] or '-'} (previous v{h['previous'] or '-'})  by {h['who']}: "
                f"{h['abandoned_because'] or h['reason']}"
            )
        return 0
    try:
        if args.action == "rollback":
            out = p.rollback(cfg, reason=args.reason, who=args.who)
        elif args.action == "force":
            out = p.force(cfg, version=args.version, reason=args.reason, who=args.who)
        else:
            out = p.reconcile(cfg, reason=args.reason, who=args.who)
    except (DataError, LockTimeout) as exc:
        print(f"r2p: {exc}", file=sys.stderr)
        return 1
    champion = (out.get("champion") or {}).get("registry_version")
    print(f"{cfg.pipeline}: {out['outcome']}; champion v{champion}, served {out['served']}")
    if out.get("detail"):
        print(out["detail"])
    return 0


def _quiet_console() -> None:
    """Stage progress goes to the run's log file; the console gets warnings and our output."""
    import logging

    r2p_logger = logging.getLogger("r2p")
    r2p_logger.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    r2p_logger.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``r2p`` command; returns the process exit status."""
    args = _parser().parse_args(argv)
    from r2p.home import ensure_airflow_home

    ensure_airflow_home()  # before any command imports Airflow (never ~/airflow)
    _quiet_console()
    from r2p.config import ConfigError

    try:
        if args.command == "config":
            return _cmd_config(args)
        if args.command == "sample":
            return _cmd_sample(args)
        if args.command == "runs":
            return _cmd_runs(args)
        if args.command == "data-run":
            return _cmd_data_run(args)
        if args.command == "training-set":
            return _cmd_training_set(args)
        if args.command == "promotion":
            return _cmd_promotion(args)
        if args.command == "ready":
            from r2p.readiness import run as run_ready

            return run_ready(args)
        if args.command == "land":
            from r2p.landing.cli import run as run_land

            return run_land(args)
        if args.command in ("train", "run"):
            from r2p.orchestration.shell import run as run_shell

            return run_shell(args)
        if args.command == "stages":
            from r2p.orchestration.stages_cli import run as run_stages

            return run_stages(args)
        if args.command == "init":
            from r2p.draft.cli import run as run_init

            return run_init(args)
        if args.command == "stack":
            from r2p.stack.cli import run as run_stack

            return run_stack(args)
        if args.command == "feast":
            from r2p.features.__main__ import main as run_feast

            run_feast(args.feast_args)  # replaces this process
        from r2p.demo import run_demo

        return run_demo(days=args.days, end=args.end, pipelines=args.pipeline)
    except ConfigError as exc:
        print(f"r2p: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
