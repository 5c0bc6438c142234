"""The outcome table of DESIGN §6: what happened, whom it concerns, how loud, which runbook
section says what to do. A failure is classified by the data error behind it (tasks wrap data
errors in AirflowFailException, so the cause chain is searched); anything that is not a data
problem is on-call's, after its last try."""

from __future__ import annotations

from dataclasses import dataclass

from r2p.config.schema import Alerts


@dataclass(frozen=True)
class Outcome:
    name: str
    title: str
    route: str  # attribute of the config's ``alerts`` section
    severity: str  # info | warning | error | critical | resolved
    runbook: str  # anchor in docs/runbook.md

    def conn_id(self, alerts: Alerts) -> str:
        """The Airflow connection id of this outcome's route."""
        return getattr(alerts, self.route)


LATE_DATA = Outcome("late_data", "Landing data late", "data_engineering", "error", "late-data")
BATCH_DEFECT = Outcome("batch_defect", "Batch refused", "data_engineering", "error", "batch-defect")
ROW_DEFECTS = Outcome("row_defects", "Rows quarantined", "data_engineering", "info", "row-defects")
GX_FAILED = Outcome("gx_failed", "Validation failed", "data_engineering", "error", "gx-failed")
DATA_ERROR = Outcome("data_error", "Data problem", "data_engineering", "error", "data-error")
TASK_FAILED = Outcome("task_failed", "Task failed", "on_call", "critical", "task-failed")
TASK_KILLED = Outcome(
    "task_killed", "Task killed or heartbeat lost", "on_call", "critical", "task-killed"
)
DEADLINE_MISSED = Outcome(
    "deadline_missed", "Deadline missed", "on_call", "critical", "deadline-missed"
)
IMPORT_ERROR = Outcome("import_error", "DAG import error", "on_call", "critical", "import-error")
NOT_READY = Outcome("not_ready", "Stack not ready", "on_call", "critical", "readiness")
PARITY_FAILED = Outcome(
    "parity_failed", "Parity gate failed", "ml_owners", "error", "parity-failed"
)
MODEL_REFUSED = Outcome("model_refused", "Model refused", "ml_owners", "error", "model-refused")
CHALLENGER_LOST = Outcome("challenger_lost", "Champion kept", "team", "info", "challenger-lost")
PROMOTED = Outcome("promoted", "Champion changed", "team", "info", "promoted")
STALE = Outcome("stale_data", "Data stale", "data_engineering", "warning", "stale-data")
STALE_MODEL = Outcome("stale_champion", "Champion stale", "ml_owners", "warning", "stale-data")

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
