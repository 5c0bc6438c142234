"""``r2p stages``: the stage table as people and scripts read it.

    r2p stages [--dag data|training] [--json]

One row per stage in the order data flows: its DAG, the function it runs, what it reads and
writes, per source or per candidate, pool, retry class and trigger rule.
"""

from __future__ import annotations

import json
from typing import Any

from r2p.orchestration.stages import STAGES


def add_parser(sub: Any) -> None:
    p = sub.add_parser("stages", help="the stage table: what each DAG task runs, reads, writes")
    p.add_argument("--dag", choices=["data", "training"], help="only this DAG's stages")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")


def run(args: Any) -> int:
    rows = [s for s in STAGES if args.dag in (None, s.dag)]
    if args.json:
        print(json.dumps([s.as_json() for s in rows], indent=2))
        return 0
    head = ("dag", "stage", "per", "function", "reads", "writes", "pool")
    table = [
        (s.dag, s.name, s.per or "-", s.function, s.reads, s.writes, s.pool or "-") for s in rows
    ]
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    for row in [head, tuple("-" * w for w in widths), *table]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0
