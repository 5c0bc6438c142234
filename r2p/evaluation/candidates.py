"""The candidates of one training run (DESIGN §10): one per ``models:`` entry, each either
passed (trained, exported, infra-validated, parity-checked) or failed at a named stage.

The passed ones are ranked (``ranking.py``); the best is the one the evaluation gates. The
decision lists them all (``rows``) and says why the chosen one was chosen (``why``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.errors import DataError
from r2p.evaluation.ranking import Ranking, rank, split_metrics


@dataclass(frozen=True)
class Candidate:
    """One model of the run: its export (passed) or the stage it failed at and the error."""

    model: str | None
    export: dict[str, Any] | None = None  # the export stage's output (with "uri")
    parity: dict[str, Any] | None = None  # the parity stage's output, when given
    failed: dict[str, str] | None = None  # {"stage", "error"}
    lineage: dict[str, Any] | None = None  # r2p.export.lineage.describe of the export
    record: dict[str, Any] | None = None  # its retrain record (result.json)


class NoCandidate(DataError):
    """No candidate of the run passed: every model failed at some stage (each one named)."""

    def __init__(self, message: str, failures: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []  # {"model", "stage", "error"} per failed model

    def __reduce__(self) -> tuple[type, tuple[str, list[dict[str, Any]]]]:
        return type(self), (str(self), self.failures)  # unpickled whole, in another process

    @classmethod
    def of(cls, failed: list[Candidate]) -> NoCandidate:
        """The error naming every failed model, its stage and its error."""
        failures = [{"model": c.model, **(c.failed or {})} for c in failed]
        named = "; ".join(
            f"{f['model']} failed at {f.get('stage', '-')} ({f.get('error', '-')})"
            for f in failures
        )
        return cls(f"no candidate passed, nothing to evaluate: {named or 'none given'}", failures)


def parse(candidates: dict[str, Any] | list[dict[str, Any]]) -> list[Candidate]:
    """One export output (a single candidate), or a list of passed and failed entries."""
    items = [candidates] if isinstance(candidates, dict) else list(candidates)
    return [_parse_one(item) for item in items]


def _parse_one(item: dict[str, Any]) -> Candidate:
    if "failed" in item:
        return Candidate(item.get("model"), failed=dict(item["failed"]))
    if "export" in item:
        return Candidate(item.get("model"), export=item["export"], parity=item.get("parity"))
    if "uri" in item:
        return Candidate(item.get("model"), export=item)
    raise ValueError(
        "a candidate is an export output (with 'uri'), {'model', 'export', 'parity'} or "
        f"{{'model', 'failed': {{'stage', 'error'}}}}; got the keys {sorted(item)}"
    )


def described(c: Candidate) -> Candidate:
    """A passed candidate with its lineage and retrain record (and its model's name)."""
    from r2p.export.lineage import describe

    if c.failed is not None:
        return c
    lineage = describe(c.export["uri"])
    record = storage.read_json(storage.path(lineage["model_uri"]) / "result.json")
    return replace(c, model=c.model or lineage["model"], lineage=lineage, record=record)


@dataclass(frozen=True)
class Selection:
    """The run's candidates (as given), the passed ones ranked, and the chosen one."""

    candidates: tuple[Candidate, ...]
    passed: tuple[Candidate, ...]
    ranking: Ranking

    @property
    def chosen(self) -> Candidate:
        return self.passed[self.ranking.order[0]]

    @property
    def failed(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.failed is not None)


def select(cfg: PipelineConfig, candidates: dict[str, Any] | list[dict[str, Any]]) -> Selection:
    """Parse, describe and rank the run's candidates; :class:`NoCandidate` if none passed."""
    given = tuple(described(c) for c in parse(candidates))
    passed = tuple(c for c in given if c.failed is None)
    if not passed:
        raise NoCandidate.of(list(given))
    ranking = rank(
        [(c.model, c.record or {}) for c in passed],
        cfg.gates.improvement.metric,
        len(cfg.dataset.label.classes),
        [m.name for m in cfg.models],
    )
    return Selection(given, passed, ranking)


def rows(sel: Selection) -> list[dict[str, Any]]:
    """decision["candidates"]: the passed ones best first, then the failed ones as given."""
    r, ranks = sel.ranking, sel.ranking.ranks
    out = [
        {
            "model": c.model,
            "export_uri": c.lineage["export_uri"],
            "export_key": c.lineage["export_key"],
            "split": r.split,
            "metrics": split_metrics(c.record, r.split),
            "rank_metric": r.metric,
            "value": r.values[i],
            "rank": ranks[i],
            "chosen": ranks[i] == 1,
            "parity": c.parity,
            "failed": None,
        }
        for i, c in sorted(enumerate(sel.passed), key=lambda ic: ranks[ic[0]])
    ]
    return out + [
        {"model": c.model, "export_uri": None, "export_key": None, "split": r.split,
         "metrics": {}, "rank_metric": r.metric, "value": None, "rank": None,
         "chosen": False, "parity": None, "failed": dict(c.failed or {})}
        for c in sel.failed
    ]  # fmt: skip


def why(sel: Selection) -> str:
    """Why the chosen candidate is the one gated, with the others' fate, in one sentence."""
    r = sel.ranking
    value = r.values[r.order[0]]
    figure = f"{r.metric} {value:.4f}" if math.isfinite(value) else f"{r.metric} not computable"
    split = "validation" if r.split == "valid" else "test"
    n = len(sel.passed)
    passed = "passed parity" if all(c.parity is not None for c in sel.passed) else "passed"
    text = (
        f"the only candidate that {passed} ({split} {figure})"
        if n == 1
        else f"best {split} {figure} of {n} candidates that {passed}"
    )
    if sel.failed:
        named = ", ".join(f"{c.model} at {(c.failed or {}).get('stage', '-')}" for c in sel.failed)
        text += f"; {len(sel.failed)} failed: {named}"
    return "; ".join([text, *r.notes])


def key_parts(cfg: PipelineConfig, sel: Selection) -> list[str]:
    """What the candidate set adds to the evaluation's reuse key: every passed candidate's
    export key, every failure (stage and error), and the config order that breaks ties."""
    parts = [
        f"{c.model}={c.lineage['export_key']}"
        if c.failed is None
        else f"{c.model}!{(c.failed or {}).get('stage')}:{(c.failed or {}).get('error')}"
        for c in sel.candidates
    ]
    return [*sorted(parts), "models=" + ",".join(m.name for m in cfg.models)]


def compact(candidate_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates as XCom carries them: model, rank, chosen, value, failed stage."""
    return [
        {
            "model": row["model"],
            "rank": row["rank"],
            "chosen": row["chosen"],
            "value": row["value"] if _finite(row["value"]) else None,
            "failed": (row["failed"] or {}).get("stage"),
        }
        for row in candidate_rows
    ]


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)
