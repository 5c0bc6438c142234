"""The words of every alert: what broke, where (file, line, code), what to do."""

from __future__ import annotations

import datetime as dt
from typing import Any

from r2p.alerts.outcomes import Outcome


def runbook_link(base: str, outcome: Outcome) -> str:
    """The runbook section of an outcome."""
    return f"{base}#{outcome.runbook}"


def rerun_command(dag_id: str, task_id: str, logical_date: Any) -> str:
    """The exact command that clears the failed task (and what follows it) for this run."""
    if logical_date is None:
        return f"airflow tasks clear {dag_id} -t '^{task_id}$' --downstream --yes (no logical date)"
    day = logical_date.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return f"airflow tasks clear {dag_id} -t '^{task_id}$' -s {day} -e {day} --downstream --yes"


def failure_sections(f: dict[str, Any]) -> list[tuple[str, str]]:
    """The sections of a failure message, from the facts gathered by the callback."""
    where = f.get("frame")
    sections = [
        (
            "Run",
            f"{f['dag_id']}.{f['task_id']}  run {f['run_id']}  try {f['try']}  host {f['host']}",
        ),
        ("Error", f"{f['error_type']}: {f['error']}"),
        (
            "Where",
            f"{where['file']}:{where['line']} in {where['function']}\n    {where['source']}"
            if where
            else "no project frame in the traceback (the error came from outside r2p's code)",
        ),
    ]
    if f.get("details"):
        sections.append(("Details", f["details"]))
    sections += [
        ("Log", f.get("log_url") or "-"),
        ("Rerun", f["rerun"]),
        ("Runbook", f["runbook"]),
    ]
    return sections


def batch_details(record: dict[str, Any]) -> str:
    """Files, reasons and quarantine location of a refused batch."""
    files = record.get("landing_files") or []
    names = ", ".join(str(x.get("name", x)) if isinstance(x, dict) else str(x) for x in files)
    return (
        f"landing {record.get('landing_uri', '-')}\nfiles {names or '-'}\n"
        f"reasons {record.get('reasons') or record.get('problems') or record.get('code') or '-'}\n"
        f"quarantine {record.get('quarantine_uri', '-')}"
    )
