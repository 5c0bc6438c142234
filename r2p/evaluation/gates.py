"""The verdict: every gate is a named check with its threshold and detail; the first that fails
gives the reason. Anything that cannot be judged (a missing threshold, a metric that cannot be
computed) fails closed: nothing is promoted on a doubt.

Verdicts: ``promote``; ``reject`` (a gate failed: the challenger lost, a floor, fail-closed,
data recency, backfilled data, first-run policy); ``not_evaluated`` (too few rows, or a model
cannot be fed); ``unchanged`` (the candidate already is the champion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from r2p.config.schema import Gates, PipelineConfig
from r2p.evaluation.metrics import passes_floor

PROMOTE, REJECT, NOT_EVALUATED, UNCHANGED = "promote", "reject", "not_evaluated", "unchanged"


@dataclass
class Check:
    """One gate: whether it passed, and why, in words a reviewer reads a month later."""

    name: str
    passed: bool
    detail: str
    blocks: str = REJECT  # the verdict when it fails

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


def verdict(checks: list[Check]) -> tuple[str, str]:
    """(verdict, reason): the first failed check decides; all passed means promote."""
    for check in checks:
        if not check.passed:
            return check.blocks, f"{check.name}: {check.detail}"
    return PROMOTE, "every gate passed"


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def metric_checks(
    gates: Gates, candidate: dict[str, float], champion: dict[str, float] | None
) -> list[Check]:
    """Every configured metric computable; a floor for the improvement metric; floors met."""
    out = []
    needed = sorted(set(gates.metrics) | set(gates.floors) | {gates.improvement.metric})
    bad = [m for m in needed if not _finite(candidate.get(m))]
    if champion is not None:
        bad += [f"champion {m}" for m in needed if not _finite(champion.get(m))]
    out.append(
        Check(
            "metrics_computable",
            not bad,
            f"cannot compute {', '.join(bad)} on the evaluation rows (for instance one class "
            "only): failing closed"
            if bad
            else f"computed {', '.join(needed)}",
        )
    )
    metric = gates.improvement.metric
    out.append(
        Check(
            "threshold_present",
            metric in gates.floors,
            f"gates.floors has a floor for {metric}"
            if metric in gates.floors
            else f"gates.floors sets no floor for the improvement metric {metric}: failing closed",
        )
    )
    for name, floor in sorted(gates.floors.items()):
        value = candidate.get(name)
        ok = _finite(value) and passes_floor(name, value, floor)
        word = "at most" if name == "log_loss" else "at least"
        out.append(
            Check(f"floor_{name}", ok, f"candidate {name} {_fmt(value)}, must be {word} {floor}")
        )
    return out


def baseline_check(gates: Gates, candidate: float, baseline: float, ci: dict) -> Check:
    """The candidate against the logistic-regression baseline, by ``gates.baseline``."""
    from r2p.evaluation.metrics import improvement

    metric, policy = gates.improvement.metric, gates.baseline
    gain = improvement(metric, candidate, baseline)
    detail = (
        f"{metric} candidate {candidate:.4f} vs baseline {baseline:.4f} (improvement "
        f"{gain:+.4f}, {_pct(gates)} interval {ci['low']:+.4f}..{ci['high']:+.4f})"
    )
    if policy == "ignore":
        return Check("baseline", True, f"{detail}; reported only (gates.baseline: ignore)")
    if policy == "better":
        ok = _finite(ci["lower_bound"]) and ci["lower_bound"] > 0
        return Check("baseline", ok, f"{detail}; must beat it with confidence")
    ok = _finite(ci["high"]) and ci["high"] >= 0
    return Check("baseline", ok, f"{detail}; the baseline must not be better with confidence")


def improvement_check(gates: Gates, candidate: float, champion: float, ci: dict) -> Check:
    """The one-sided lower bound of the paired-bootstrap improvement exceeds ``min_delta``."""
    imp = gates.improvement
    ok = _finite(ci["lower_bound"]) and ci["lower_bound"] > imp.min_delta
    return Check(
        "beats_champion",
        ok,
        f"{imp.metric} candidate {candidate:.4f} vs champion {champion:.4f}; improvement "
        f"{_pct(gates)} interval {ci['low']:+.4f}..{ci['high']:+.4f}, one-sided "
        f"{imp.confidence:.0%} lower bound {ci['lower_bound']:+.4f} must exceed "
        f"{imp.min_delta} ({imp.bootstrap_samples} paired resamples)",
    )


def _fmt(x: float | None) -> str:
    return f"{x:.4f}" if _finite(x) else "not computable"


def _pct(gates: Gates) -> str:
    return f"{gates.improvement.confidence:.0%}"


def first_run_check(gates: Gates) -> Check:
    """With no champion, the configured policy decides."""
    ok = gates.first_run == "promote"
    return Check(
        "first_run_policy",
        ok,
        "no champion yet; gates.first_run: promote (floors and baseline decide)"
        if ok
        else "no champion yet and gates.first_run is 'manual': promote it with "
        "`r2p promotion force`",
    )


def recency_check(candidate: dict[str, Any], champion: dict[str, Any] | None) -> Check:
    """A candidate whose data ends before the champion's never replaces it automatically."""
    if champion is None:
        return Check("data_recency", True, "no champion to compare with")
    ok = candidate["data_end"] >= champion["data_end"]
    return Check(
        "data_recency",
        ok,
        f"candidate data ends {candidate['data_end']}, champion's {champion['data_end']}"
        + ("" if ok else ": older data never replaces newer without a recorded reason (force)"),
    )


def trigger_check(trigger: dict[str, Any]) -> Check:
    """Nothing fed by backfilled data moves the champion (DESIGN §4)."""
    backfill = bool(trigger.get("from_backfill")) or trigger.get("promotable") is False
    return Check(
        "not_from_backfill",
        not backfill,
        f"run type {trigger.get('run_type')}, fed by {trigger.get('source_run_types') or '-'}"
        + (": backfilled data never moves the champion" if backfill else ""),
    )


def eval_size_check(cfg: PipelineConfig, rows: int, after: str, set_by: str) -> Check:
    """The evaluation window holds at least ``gates.min_eval_rows`` rows."""
    return Check(
        "eval_size",
        rows >= cfg.gates.min_eval_rows,
        _eval_size_text(cfg, rows, after, set_by),
        NOT_EVALUATED,
    )


def _eval_size_text(cfg: PipelineConfig, rows: int, after: str, set_by: str) -> str:
    """The evaluation window's size against ``gates.min_eval_rows``, and what would change it."""
    need = cfg.gates.min_eval_rows
    where = f"{rows} rows labelled after {after} (opened by the {set_by})"
    if rows >= need:
        return f"{where}; at least {need} needed"
    split = cfg.training.split
    widen = (
        f"raise training.split.test_fraction (now {split.test_fraction})"
        if split.method == "random"
        else f"raise training.split.test_days (now {split.test_days}) or training.window_days "
        f"(now {cfg.training.window_days})"
    )
    return (
        f"gates.min_eval_rows is {need} but the evaluation window holds {rows} rows ({where}): "
        f"set gates.min_eval_rows <= {max(rows, 1)} or {widen}"
    )


def inputs_check(cfg: PipelineConfig, name: str, ref: dict[str, Any], missing: list[str]) -> Check:
    """Model ``name`` (``ref``) can be fed (``missing``: the inputs the rows lack) and
    predicts the config's classes."""
    same_classes = ref["classes"] == list(cfg.dataset.label.classes)
    if missing:
        detail = f"{ref['feature_service']} needs {missing} that the evaluation rows lack"
    elif same_classes:
        detail = f"{ref['feature_service']}: all {len(ref['features'])} inputs present"
    else:
        detail = f"its classes {ref['classes']} differ from the config's"
    return Check(f"{name}_inputs", not missing and same_classes, detail, NOT_EVALUATED)
