"""Routes are a type: every outcome of the table goes, through the sending path that sends it
in production, to the route DESIGN §6 gives it, and nowhere else.

The configs give the four routes distinct connection ids, none of them defined (the embedded
default), so every message lands in the outbox with the connection id it was sent to.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from r2p.alerts import outcomes
from r2p.alerts.outcomes import OUTCOMES, Outcome
from r2p.alerts.routes import Route, conn_ids
from r2p.config.schema import Alerts
from r2p.errors import BatchRejected, DataError, LandingLate, ValidationFailed

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]
RUN = "scheduled__2026-11-24T00:00:00+00:00"
WHEN = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)
CONN = {
    Route.DATA_ENGINEERING: "routes_test_data_eng",
    Route.ON_CALL: "routes_test_on_call",
    Route.ML_OWNERS: "routes_test_ml_owners",
    Route.TEAM: "routes_test_team",
}
# DESIGN §6, outcome by outcome (the rows it names; the others by the row they belong to)
DESIGN = {
    "late_data": Route.DATA_ENGINEERING,  # landing data late past its deadline
    "batch_defect": Route.DATA_ENGINEERING,  # batch defect (file, schema)
    "row_defects": Route.DATA_ENGINEERING,  # rows quarantined within the allowed fraction
    "gx_failed": Route.DATA_ENGINEERING,  # GX suite failed
    "data_error": Route.DATA_ENGINEERING,  # any other data problem (never retried)
    "task_failed": Route.ON_CALL,  # transient error, after its retries
    "task_killed": Route.ON_CALL,  # SIGKILL, OOM, heartbeat lost
    "deadline_missed": Route.ON_CALL,  # DeadlineAlert
    "import_error": Route.ON_CALL,  # readiness: DAG import error
    "not_ready": Route.ON_CALL,  # readiness: scheduler down, database, storage ...
    "not_serving": Route.ON_CALL,  # the model server is down (nothing it can serve)
    "parity_failed": Route.ML_OWNERS,  # parity gate failed
    "model_refused": Route.ML_OWNERS,  # a model refused: validation, publish, serving load
    "challenger_lost": Route.TEAM,  # challenger lost, champion kept
    "promoted": Route.TEAM,  # promoted, rolled back, forced
    "stale_data": Route.DATA_ENGINEERING,  # freshness: a source or the labels
    "stale_champion": Route.ML_OWNERS,  # freshness: the champion's data
}


class ParityFailed(DataError):
    """Stands in for the export's gate error: failures are classified by class name."""


@pytest.fixture
def cfg(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every shipped config, with the four routes on distinct, undefined connections."""
    from r2p.config import load_pipeline

    folder = tmp_path / "configs"
    shutil.copytree(REPO / "configs", folder)
    for path in folder.glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        data["alerts"] = {**(data.get("alerts") or {}), **{r.value: c for r, c in CONN.items()}}
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("R2P_CONFIGS", str(folder))
    for conn_id in CONN.values():
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)
    return load_pipeline("churn")


def _outbox() -> list[dict[str, Any]]:
    from r2p_jandi import read_outbox

    return read_outbox()


def _ti(task: str, tries: int = 1, max_tries: int = 0, dag_id: str = "churn_data",
        **kw: Any) -> SimpleNamespace:  # fmt: skip
    return SimpleNamespace(dag_id=dag_id, task_id=task, run_id=RUN, try_number=tries,
                           max_tries=max_tries, hostname="worker-7",
                           log_url=f"http://airflow:8080/log/{task}", **kw)  # fmt: skip


def _wrapped(err: Exception) -> AirflowFailException:
    """As the task bodies raise a data error: inside AirflowFailException."""
    try:
        try:
            raise err
        except DataError as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    except AirflowFailException as outer:
        return outer


def failed_task(err: Exception, wrap: bool = True) -> Callable[[Any], None]:
    """The failure notifier every task carries, on the task's last try."""

    def send(cfg: Any) -> None:
        from r2p.alerts.failure import FailureNotifier

        exc = _wrapped(err) if wrap else err
        task = f"task_{type(err).__name__.lower()}"
        FailureNotifier(cfg.pipeline).notify({"ti": _ti(task), "logical_date": WHEN,
                                              "exception": exc})  # fmt: skip

    return send


def killed_task(cfg: Any) -> None:
    """The scheduler's callback for a lost heartbeat on the last try (no exception)."""
    from r2p.alerts.failure import FailureNotifier

    FailureNotifier(cfg.pipeline).notify({"ti": _ti("train", tries=2, max_tries=1),
                                          "logical_date": WHEN})  # fmt: skip


def deadline(cfg: Any) -> None:
    from r2p.alerts.deadline import alert_deadline

    alert_deadline(cfg.pipeline, "data", {"dag_run": {"dag_run_id": RUN, "state": "running"}})


def readiness_problem(item: str, text: str) -> Callable[[Any], None]:
    """``r2p ready --notify`` after a check of ``item`` failed."""

    def send(cfg: Any) -> None:
        from r2p import readiness

        failed = readiness.Result(item, False, text, [(f"{item}:1", text)])
        readiness.notify([failed, readiness.Result("storage", True, "writable")], NOW)

    return send


def serving_reload(served: int | None) -> Callable[[Any], None]:
    """The model server failed to load version 3 (``served`` keeps serving, or nothing)."""

    def send(cfg: Any) -> None:
        from r2p.alerts.serving import reload_failed

        status = reload_failed(cfg.pipeline, 3, "InvalidArgument: bad graph", served)
        assert status == "sent"

    return send


def _stage(cfg: Any, stage: str, outputs: dict[str, Any]) -> None:
    from r2p.runner import RunInfo, run_stage

    run_stage(RunInfo(cfg.pipeline, RUN), stage, lambda: outputs)


def _run_end(cfg: Any, kind: str) -> dict[str, Any]:
    """The ``notify`` task at the end of a run whose tasks all succeeded."""
    from r2p.alerts.run_end import finish_run

    dag_id = f"{cfg.pipeline}_{kind}"
    states = {RUN: {"notify": "running", "ingest_profile": "success", "evaluate": "success"}}
    ti = _ti("notify", dag_id=dag_id, get_task_states=lambda dag_id, run_ids: states)
    return finish_run(cfg.pipeline, kind, {"ti": ti, "logical_date": WHEN})


def rows_quarantined(cfg: Any) -> None:
    _stage(cfg, "ingest_profile", {"source": "profile", "ds": "2026-11-24", "rows_landed": 100,
                                   "rows_quarantined": 1, "reasons": {"null_key": 1},
                                   "quarantine_uri": "file:///q"})  # fmt: skip
    (summary,) = _run_end(cfg, "data")["summaries"]
    assert summary["delivered"]


def champion_kept(cfg: Any) -> None:
    from r2p import storage

    path = storage.root() / "runs" / "decision.json"
    storage.write_json(
        path,
        {
            "candidate": {"model": "mlp", "data_end": "2026-11-23"},
            "metrics": {"candidate": {"roc_auc": 0.71}},
            "champion": None,
        },
    )
    _stage(
        cfg,
        "evaluate",
        {
            "decision_uri": storage.uri_of(path),
            "verdict": "reject",
            "reason": "no improvement",
            "report_uri": "file:///report.html",
        },
    )
    _stage(cfg, "promote", {"promoted": False})  # fmt: skip
    (summary,) = _run_end(cfg, "training")["summaries"]
    assert summary["delivered"]


def champion_changed(action: str) -> Callable[[Any], None]:
    """The announcement of a committed promotion record entry (promote, rollback, force)."""

    def send(cfg: Any) -> None:
        from r2p.promotion.announce import announce

        committed = {"action": action, "reason": "why not", "who": "alice", "seq": 7,
                     "at": "2026-11-24T09:00:00+00:00", "decision_uri": None,
                     "champion": {"registry_version": 2, "model": "mlp", "data_end": "2026-11-23"},
                     "previous_champion": {"registry_version": 1}}  # fmt: skip
        assert announce(cfg, committed)["conn_id"] == CONN[Route.TEAM]

    return send


def stale_data(cfg: Any) -> None:
    from r2p.alerts.freshness import alert_stale

    alert_stale(cfg, NOW)  # nothing committed: every source and the labels are stale


def stale_champion(cfg: Any) -> None:
    from r2p.alerts.freshness import alert_stale
    from r2p.promotion import record

    champion = {"registry_version": 1, "model": "mlp", "data_end": "2026-01-01"}
    record.append(cfg.pipeline, 1, record.COMMITTED, "op-1", champion=champion,
                  previous_champion=None)  # fmt: skip
    alert_stale(cfg, NOW)


def promotion_refused(cfg: Any) -> None:
    from r2p.promotion.promote import PromotionError

    failed_task(PromotionError("no previous champion to roll back to"))(cfg)


CASES = [
    pytest.param(outcomes.LATE_DATA, failed_task(LandingLate("landing late")), id="late-data"),
    pytest.param(outcomes.BATCH_DEFECT, failed_task(BatchRejected("bad file", {})),
                 id="batch-defect"),
    pytest.param(outcomes.ROW_DEFECTS, rows_quarantined, id="row-defects"),
    pytest.param(outcomes.GX_FAILED, failed_task(ValidationFailed("gx", [])), id="gx-failed"),
    pytest.param(outcomes.DATA_ERROR, failed_task(DataError("no labels")), id="data-error"),
    pytest.param(outcomes.TASK_FAILED, failed_task(ConnectionError("refused"), wrap=False),
                 id="transient-error"),
    pytest.param(outcomes.TASK_KILLED, killed_task, id="task-killed"),
    pytest.param(outcomes.DEADLINE_MISSED, deadline, id="deadline-missed"),
    pytest.param(outcomes.IMPORT_ERROR,
                 readiness_problem("dag_imports", "dags/broken.py:3: NameError"),
                 id="readiness-import-error"),
    pytest.param(outcomes.NOT_READY, readiness_problem("scheduler", "no heartbeat for 300 s"),
                 id="readiness-scheduler-down"),
    pytest.param(outcomes.NOT_SERVING, serving_reload(None), id="serving-nothing-serves"),
    pytest.param(outcomes.PARITY_FAILED, failed_task(ParityFailed("disagree")),
                 id="parity-failed"),
    pytest.param(outcomes.MODEL_REFUSED, promotion_refused, id="promotion-refused"),
    pytest.param(outcomes.MODEL_REFUSED, serving_reload(2), id="serving-cannot-load"),
    pytest.param(outcomes.CHALLENGER_LOST, champion_kept, id="challenger-lost"),
    pytest.param(outcomes.PROMOTED, champion_changed("promote"), id="promoted"),
    pytest.param(outcomes.PROMOTED, champion_changed("rollback"), id="rolled-back"),
    pytest.param(outcomes.PROMOTED, champion_changed("force"), id="forced"),
    pytest.param(outcomes.STALE, stale_data, id="stale-data"),
    pytest.param(outcomes.STALE_MODEL, stale_champion, id="stale-champion"),
]  # fmt: skip


@pytest.mark.parametrize(("outcome", "send"), CASES)
def test_every_outcome_reaches_its_design_route_and_only_it(
    cfg: Any, outcome: Outcome, send: Callable[[Any], None]
) -> None:
    assert _outbox() == []
    send(cfg)
    sent = _outbox()
    if outcome is outcomes.STALE_MODEL:  # the empty home's sources are stale too
        sent = [m for m in sent if outcome.title in m["payload"]["body"]]
    assert sent, f"nothing sent for {outcome.name}"
    route = DESIGN[outcome.name]
    assert outcome.route is route
    assert {m["conn_id"] for m in sent} == {CONN[route]}, [m["payload"]["body"] for m in sent]


def test_the_cases_cover_the_table_and_the_table_every_outcome() -> None:
    defined = {v for v in vars(outcomes).values() if isinstance(v, Outcome)}
    assert defined == set(OUTCOMES), "an Outcome constant missing from OUTCOMES"
    assert len({o.name for o in OUTCOMES}) == len(OUTCOMES)
    assert {o.name for o in OUTCOMES} == set(DESIGN)
    assert {p.values[0] for p in CASES} == set(OUTCOMES), "an outcome never sent above"
    assert {o.name: DESIGN[o.name] for o in OUTCOMES} == outcomes.ROUTES
    assert all(isinstance(o.route, Route) for o in OUTCOMES)
    assert set(outcomes.BY_ERROR.values()) <= set(OUTCOMES)


def test_a_route_is_a_connection_field_of_the_alerts_section() -> None:
    fields = {name for name, f in Alerts.model_fields.items() if f.annotation in (str, "str")}
    assert {r.value for r in Route} == fields - {"runbook_url"}
    alerts = Alerts(**{r.value: c for r, c in CONN.items()})
    assert conn_ids(alerts) == CONN
    assert all(r.conn_id(Alerts()) == getattr(Alerts(), r.value) for r in Route)


def test_resolved_goes_where_the_alert_went(cfg: Any) -> None:
    failed_task(BatchRejected("bad file", {}))(cfg)
    _run_end(cfg, "data")  # the DAG's next run succeeded
    first, resolved = _outbox()
    assert resolved["payload"]["body"].startswith("[churn] resolved: churn_data.task_batchrejected")
    assert first["conn_id"] == resolved["conn_id"] == CONN[Route.DATA_ENGINEERING]


# Choosing a connection is the table's job: nothing else reads a route's field or names one.
PICKS = re.compile(
    r"\.(on_call|data_engineering|ml_owners|team)\b"
    r"|[\"'](on_call|data_engineering|ml_owners|team)[\"']"
    r"|getattr\([\w.]*alerts\s*,"  # getattr(cfg.alerts, name)
)
TABLE = {REPO / "r2p" / "alerts" / "routes.py"}


def test_no_sender_picks_a_route_by_name() -> None:
    found = [
        f"{p.relative_to(REPO)}:{n}: {line.strip()}"
        for base in (REPO / "r2p", REPO / "plugins")
        for p in sorted(base.rglob("*.py"))
        if p not in TABLE
        for n, line in enumerate(p.read_text().splitlines(), start=1)
        if PICKS.search(line)
    ]
    assert found == []
