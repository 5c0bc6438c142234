"""The words of every alert: what broke, where (file, line, code), what to do."""

from __future__ import annotations

import datetime as dt
from typing import Any

from r2p.alerts.outcomes import Outcome


def runbook_link(base: str, outcome: Outcome) -> str:
    """The runbook section of an outcome."""
    return f"{base}#{outcome.runbook}"


def split_instance(key: str) -> tuple[str, int | None]:
    """(task id, map index) of a key in Airflow's run states: a candidate's mapped instance is
    ``<task>_<map index>`` (only the stage table's per-candidate stages are mapped, so a
    task id that merely ends in digits, ``ingest_events_2``, stays whole)."""
    from r2p.orchestration.stages import STAGES

    base, _, index = key.rpartition("_")
    mapped = {s.name for s in STAGES if s.per == "model"}
    return (base, int(index)) if base in mapped and index.isdigit() else (key, None)


def instance_label(pipeline: str, key: str) -> str:
    """A run-state key as people read it (``parity_1`` -> ``parity[<second model>]``)."""
    return task_label(pipeline, *split_instance(key))


def task_label(pipeline: str, task_id: str, map_index: int | None) -> str:
    """A task as people read it: a training run maps its candidates' tasks over ``models:``
    in order, so map index 1 of ``retrain`` is ``retrain[<second model>]``; with one model
    (or an unmapped task) the plain task id."""
    from r2p.config import load_pipeline

    if map_index is None or map_index < 0:
        return task_id
    try:
        models = [m.name for m in load_pipeline(pipeline).models]
    except Exception:  # the label never fails for want of a config
        return f"{task_id}[{map_index}]"
    if len(models) == 1:
        return task_id
    return f"{task_id}[{models[map_index] if map_index < len(models) else map_index}]"


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
