"""The outcome table of DESIGN §6: what happened, whom it concerns (a :class:`Route`), how
loud, which runbook section says what to do. Every alert r2p sends is one of these outcomes
and goes to its route (:data:`OUTCOMES` lists them all). A failure is classified by the data
error behind it (tasks wrap data errors in AirflowFailException, so the cause chain is
searched); anything that is not a data problem is on-call's, after its last try."""

from __future__ import annotations

from dataclasses import dataclass

from r2p.alerts.routes import Route
from r2p.config.schema import Alerts


@dataclass(frozen=True)
class Outcome:
    name: str
    title: str
    route: Route
    severity: str  # info | warning | error | critical | resolved
    runbook: str  # anchor in docs/runbook.md

    def conn_id(self, alerts: Alerts) -> str:
        """The Airflow connection id of this outcome's route in ``alerts``."""
        return self.route.conn_id(alerts)


# the route column of the table below
DATA_ENGINEERING, ON_CALL = Route.DATA_ENGINEERING, Route.ON_CALL
ML_OWNERS, TEAM = Route.ML_OWNERS, Route.TEAM

# fmt: off
LATE_DATA       = Outcome("late_data", "Landing data late", DATA_ENGINEERING, "error", "late-data")
BATCH_DEFECT    = Outcome("batch_defect", "Batch refused", DATA_ENGINEERING, "error",
                          "batch-defect")
ROW_DEFECTS     = Outcome("row_defects", "Rows quarantined", DATA_ENGINEERING, "info",
                          "row-defects")
GX_FAILED       = Outcome("gx_failed", "Validation failed", DATA_ENGINEERING, "error",
                          "gx-failed")
DATA_ERROR      = Outcome("data_error", "Data problem", DATA_ENGINEERING, "error", "data-error")
TASK_FAILED     = Outcome("task_failed", "Task failed", ON_CALL, "critical", "task-failed")
TASK_KILLED     = Outcome("task_killed", "Task killed or heartbeat lost", ON_CALL, "critical",
                          "task-killed")
DEADLINE_MISSED = Outcome("deadline_missed", "Deadline missed", ON_CALL, "critical",
                          "deadline-missed")
IMPORT_ERROR    = Outcome("import_error", "DAG import error", ON_CALL, "critical",
                          "import-error")
NOT_READY       = Outcome("not_ready", "Stack not ready", ON_CALL, "critical", "readiness")
# the model server has no version to serve: the only one it was given does not load
NOT_SERVING     = Outcome("not_serving", "Model server not serving", ON_CALL, "critical",
                          "model-refused")
PARITY_FAILED   = Outcome("parity_failed", "Parity gate failed", ML_OWNERS, "error",
                          "parity-failed")
# infra-validation, publish or a promotion request refused the model, or the model server
# cannot load a new version (the old one keeps serving)
MODEL_REFUSED   = Outcome("model_refused", "Model refused", ML_OWNERS, "error", "model-refused")
CHALLENGER_LOST = Outcome("challenger_lost", "Champion kept", TEAM, "info", "challenger-lost")
PROMOTED        = Outcome("promoted", "Champion changed", TEAM, "info", "promoted")
STALE           = Outcome("stale_data", "Data stale", DATA_ENGINEERING, "warning", "stale-data")
STALE_MODEL     = Outcome("stale_champion", "Champion stale", ML_OWNERS, "warning",
                          "stale-data")
# fmt: on

# The table: every outcome, in DESIGN §6's order.
OUTCOMES: tuple[Outcome, ...] = (
    LATE_DATA, BATCH_DEFECT, ROW_DEFECTS, GX_FAILED, DATA_ERROR, TASK_FAILED, TASK_KILLED,
    DEADLINE_MISSED, IMPORT_ERROR, NOT_READY, NOT_SERVING, PARITY_FAILED, MODEL_REFUSED,
    CHALLENGER_LOST, PROMOTED, STALE, STALE_MODEL,
)  # fmt: skip
ROUTES: dict[str, Route] = {o.name: o.route for o in OUTCOMES}  # outcome name -> its route

# Exception class name (anywhere in the cause chain) -> outcome; the first match wins.
BY_ERROR = {
    "LandingLate": LATE_DATA,
    "BatchRejected": BATCH_DEFECT,
    "ValidationFailed": GX_FAILED,
    "ParityFailed": PARITY_FAILED,
    "InfraValidationError": MODEL_REFUSED,
    "PublishError": MODEL_REFUSED,
    "ModelSpecError": MODEL_REFUSED,
    "PromotionError": MODEL_REFUSED,
    "NoCandidate": MODEL_REFUSED,  # evaluate skips on it; classified should it surface
}


def chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and its causes (explicit, then implicit), outermost first, without cycles."""
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def classify(exc: BaseException | None) -> tuple[Outcome, BaseException | None]:
    """(outcome, the exception that decided it) for a task failure."""
    from r2p.errors import DataError

    errors = chain(exc)
    for err in errors:
        for cls in type(err).__mro__:
            if cls.__name__ in BY_ERROR:
                return BY_ERROR[cls.__name__], err
    for err in errors:
        if isinstance(err, DataError):
            return DATA_ERROR, err
    return TASK_FAILED, errors[-1] if errors else None
