"""``r2p land PIPELINE FILE [--source S] [--ds YYYY-MM-DD] [--json]``: the producer's side."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from r2p.cli_args import date_arg as _date


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``r2p land``."""
    land = sub.add_parser(
        "land",
        help="land a CSV or Parquet file as a source's partitions (files, then the contract)",
    )
    land.add_argument("pipeline")
    land.add_argument("file", type=Path, help="CSV (any common delimiter) or Parquet")
    land.add_argument("--source", help="the landing source (default: the pipeline's only one)")
    land.add_argument(
        "--ds", type=_date, help="land every row on this day (default: split by timestamp)"
    )
    land.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Land the file; 0 when landed, 2 when the file or the arguments do not fit."""
    from r2p.config import load_pipeline
    from r2p.draft.read import TableError, read_table
    from r2p.landing.land import LandingError, land_frame, summary_rows

    cfg = load_pipeline(args.pipeline)
    try:
        frame = read_table(args.file)
        written = land_frame(cfg, frame, args.source, args.ds)
    except (LandingError, TableError) as exc:
        print(f"r2p land: {args.file}: {exc}", file=sys.stderr)
        return 2
    rows = summary_rows(written)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['source']:<16} ds={r['ds']}  rows={r['rows']:>8}  {r['contract']}  {r['uri']}")
    total = sum(r["rows"] for r in rows)
    print(f"landed {total} rows in {len(rows)} partition(s) of {cfg.pipeline}")
    return 0
