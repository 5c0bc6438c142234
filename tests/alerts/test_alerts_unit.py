"""Alert building blocks: classification, the innermost project frame, dedup state (file and
S3), freshness."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.sdk.exceptions import AirflowFailException

from r2p.alerts import dedup
from r2p.alerts.frames import innermost_project_frame
from r2p.alerts.messages import rerun_command
from r2p.alerts.outcomes import classify
from r2p.errors import BatchRejected, DataError, LandingLate, ValidationFailed
from r2p.export.stage import ParityFailed


def _wrapped(err: Exception) -> AirflowFailException:
    """As the task bodies raise it: a data error inside AirflowFailException."""
    try:
        try:
            raise err
        except DataError as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    except AirflowFailException as outer:
        return outer


@pytest.mark.parametrize(
    ("err", "outcome", "route"),
    [
        (LandingLate("late"), "late_data", "data_engineering"),
        (BatchRejected("bad", {}), "batch_defect", "data_engineering"),
        (ValidationFailed("gx", []), "gx_failed", "data_engineering"),
        (ParityFailed("parity"), "parity_failed", "ml_owners"),
        (DataError("no labels"), "data_error", "data_engineering"),
    ],
)
def test_data_errors_route_by_kind(err, outcome, route) -> None:
    got, decisive = classify(_wrapped(err))
    assert (got.name, got.route) == (outcome, route) and decisive is err


def test_everything_else_is_on_call() -> None:
    got, decisive = classify(ConnectionError("refused"))
    assert (got.name, got.route, got.severity) == ("task_failed", "on_call", "critical")
    assert isinstance(decisive, ConnectionError)


def test_innermost_project_frame_names_file_line_and_code(home) -> None:
    from r2p import storage

    try:
        storage.read_json(storage.root() / "missing.json")
    except FileNotFoundError as exc:
        frame = innermost_project_frame(exc)
    assert frame["file"] == "r2p/storage.py" and frame["function"] == "read_json"
    assert "read_text" in frame["source"] and frame["line"] > 0


def test_rerun_command_is_exact_for_the_run() -> None:
    when = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    assert rerun_command("churn_data", "ingest_profile", when) == (
        "airflow tasks clear churn_data -t '^ingest_profile$' -s 2026-11-21T00:00:00+00:00 "
        "-e 2026-11-21T00:00:00+00:00 --downstream --yes"
    )


def test_dedup_once_per_window_then_resolved_once(storage_root: str) -> None:
    sent: list[int] = []
    t0 = dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)
    window = dt.timedelta(hours=24)

    def send(repeat, previous):
        sent.append(repeat)
        return True

    info = {"dag_id": "d", "task_id": "t", "conn_id": "c"}
    assert dedup.open_alert("d", "k1", info, window, send, t0) == "sent"
    assert dedup.open_alert("d", "k1", info, window, send, t0 + dt.timedelta(hours=1)) == (
        "suppressed"
    )
    assert dedup.repeats("d", "k1") == 1
    later = t0 + dt.timedelta(hours=25)
    assert dedup.open_alert("d", "k1", info, window, send, later) == "renotified"
    assert dedup.open_alert("d", "k1", info, window, send, later) == "suppressed"
    assert sent == [0, 1]
    (alert,) = dedup.open_alerts("d")
    resolved: list[str] = []
    assert dedup.resolve("d", alert, lambda a: resolved.append(a["key"]) or True)
    assert not dedup.resolve("d", alert, lambda a: resolved.append(a["key"]) or True)
    assert resolved == ["k1"] and dedup.open_alerts("d") == []
    # a new episode after resolution is sent again
    assert dedup.open_alert("d", "k1", info, window, send, later) == "sent"


def test_a_failed_send_is_retried_by_the_next_failure(home) -> None:
    info = {"dag_id": "d", "task_id": "t", "conn_id": "c"}
    window = dt.timedelta(hours=24)
    assert dedup.open_alert("d", "k", info, window, lambda r, p: False) == "failed"
    assert dedup.open_alerts("d") == []
    assert dedup.open_alert("d", "k", info, window, lambda r, p: True) == "sent"


def test_freshness_flags_stale_sources_labels_and_champion(churn) -> None:
    from r2p.alerts.freshness import check
    from tests.features.helpers import load_days

    start = dt.date(2026, 11, 2)
    load_days(churn, start, 3, entities=30, materialize=False)
    fresh_at = dt.datetime(2026, 11, 5, 12, tzinfo=dt.UTC)
    findings = {f["subject"]: f for f in check(churn, fresh_at)}
    assert set(findings) == {"source profile", "source activity", "labels churn_labels"}
    assert not any(f["stale"] for f in findings.values())
    late = {f["subject"]: f for f in check(churn, fresh_at + dt.timedelta(days=3))}
    assert all(f["stale"] for f in late.values())
    assert late["labels churn_labels"]["newest"] == "2026-11-04"
