"""Ranking a run's candidates on validation (DESIGN §10): by the primary metric
(``gates.improvement.metric``) as each candidate's retrain record holds it (``result.json``,
``metrics["valid"]``, written by ``r2p.training.metrics.classification``). A pure function of
those records: lower first for a lower-is-better metric, NaN last, ties in config order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from r2p.config.schema import LOWER_IS_BETTER

FALLBACK = "log_loss"  # every retrain record has it


@dataclass(frozen=True)
class Ranking:
    """How the passed candidates were ordered."""

    metric: str  # as the retrain records name it (roc_auc_macro for more than two classes)
    split: str  # valid; test when the validation split is empty
    notes: tuple[str, ...]  # why the metric or the split is not the one asked for
    order: tuple[int, ...]  # indexes of the ranked records, best first
    values: tuple[float, ...]  # each record's value of ``metric`` on ``split`` (NaN: none)

    @property
    def ranks(self) -> dict[int, int]:
        """Record index -> rank (1 = best)."""
        return {i: r for r, i in enumerate(self.order, 1)}


def record_metric(metric: str, n_classes: int) -> tuple[str, str]:
    """(its name in a retrain record, a note) for gate metric ``metric``: with more than two
    classes the records hold ``roc_auc_macro`` and ``f1_macro``; they hold no precision or
    recall, so log loss ranks then (and the note says so)."""
    if metric in ("precision", "recall"):
        return FALLBACK, f"the retrain records have no {metric}: ranked by {FALLBACK}"
    if n_classes > 2 and metric in ("roc_auc", "f1"):
        return f"{metric}_macro", ""
    return metric, ""


def ranking_split(records: list[dict[str, Any]]) -> tuple[str, str]:
    """(split, note): validation, or test when a record has no validation metrics."""
    if all((r.get("metrics") or {}).get("valid") for r in records):
        return "valid", ""
    return "test", "the validation split is empty: ranked on the test split"


def split_metrics(record: dict[str, Any] | None, split: str) -> dict[str, float]:
    """A retrain record's metrics on ``split`` ({} when it has none)."""
    return dict(((record or {}).get("metrics") or {}).get(split) or {})


def rank(
    records: list[tuple[str | None, dict[str, Any]]],
    metric: str,
    n_classes: int,
    config_order: list[str],
) -> Ranking:
    """Rank (model, retrain record) pairs best first by ``metric``: lower first for a
    lower-is-better metric, NaN or missing last, ties in ``config_order`` (``cfg.models``)."""
    name, note = record_metric(metric, n_classes)
    split, split_note = ranking_split([r for _, r in records])
    lower = (FALLBACK if name == FALLBACK else metric) in LOWER_IS_BETTER
    values = tuple(_value(split_metrics(r, split).get(name)) for _, r in records)

    def key(i: int) -> tuple[int, float, int, int]:
        model, v = records[i][0], values[i]
        place = config_order.index(model) if model in config_order else len(config_order)
        if math.isnan(v):
            return 1, 0.0, place, i
        return 0, (v if lower else -v), place, i

    order = tuple(sorted(range(len(records)), key=key))
    return Ranking(name, split, tuple(n for n in (note, split_note) if n), order, values)


def _value(v: Any) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan
