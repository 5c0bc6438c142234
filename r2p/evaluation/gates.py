"""The verdict: every gate is a named check with its threshold and detail; the first that fails
gives the reason. Anything that cannot be judged (a missing threshold, a metric that cannot be
computed) fails closed: nothing is promoted on a doubt.

Verdicts: ``promote``; ``reject`` (a gate failed: the challenger lost, a guard metric, a
degenerate model, a floor, fail-closed, data recency, backfilled data, first-run policy);
``not_evaluated`` (too few rows, or a model cannot be fed); ``unchanged`` (the candidate
already is the champion).

Guards (``gates.guard``): against the logistic-regression baseline, no guard metric may be
worse with confidence (the whole paired-bootstrap interval of the improvement below zero);
against the champion, none worse with confidence by more than ``gates.max_regression``. A
check's detail starts with its figures ("log_loss 0.5120 vs baseline 0.4310 (...)"), which
:func:`told` turns into the line a person reads: "rejected: baseline_guard — log_loss ...".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from r2p.config.schema import LOWER_IS_BETTER, Gates, PipelineConfig
from r2p.evaluation.metrics import gated, passes_floor

PROMOTE, REJECT, NOT_EVALUATED, UNCHANGED = "promote", "reject", "not_evaluated", "unchanged"


WORDS = {
    PROMOTE: "promoted",
    REJECT: "rejected",
    NOT_EVALUATED: "not evaluated",
    UNCHANGED: "unchanged",
}
NO_CHAMPION = "no champion yet: no candidate has passed every gate, so none is served"


@dataclass
class Check:
    """One gate: whether it passed, and why, in words a reviewer reads a month later;
    ``figures``: the metric that decided it and the two values compared (when there are)."""

    name: str
    passed: bool
    detail: str
    blocks: str = REJECT  # the verdict when it fails
    figures: dict[str, Any] | None = None  # {"metric", "candidate", "against", "other"}

    def as_json(self) -> dict[str, Any]:
        out = {"name": self.name, "passed": self.passed, "detail": self.detail}
        return out | ({"figures": self.figures} if self.figures else {})


def verdict(checks: list[Check]) -> tuple[str, str]:
    """(verdict, reason): the first failed check decides; all passed means promote."""
    for check in checks:
        if not check.passed:
            return check.blocks, f"{check.name}: {check.detail}"
    return PROMOTE, "every gate passed"


def decided_by(checks: list[Check]) -> dict[str, Any] | None:
    """The check that decided the verdict (the first that failed) and its figures."""
    for check in checks:
        if not check.passed:
            return {"check": check.name, **(check.figures or {})}
    return None


def told(verdict_: str, reason: str, champion_version: int | None = None) -> str:
    """The line a person reads: "rejected: <check> — <its figures>", then what became of the
    champion (kept, or why there is none). ``reason`` is :func:`verdict`'s."""
    word = WORDS.get(verdict_, verdict_)
    name, sep, detail = reason.partition(": ")
    line = f"{word}: {name} — {detail.split('; ')[0]}" if sep else f"{word}: {reason}"
    if verdict_ == PROMOTE or name == "first_run_policy":  # that detail says it already
        return line
    kept = f"champion v{champion_version} kept" if champion_version is not None else NO_CHAMPION
    return f"{line}; {kept}"


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def metric_checks(
    gates: Gates,
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    baseline: dict[str, float] | None = None,
    absent: list[str] | None = None,
) -> list[Check]:
    """Every gated metric computable (:func:`computable_check`), then :func:`floor_checks`."""
    return [
        computable_check(gates, candidate, champion, absent),
        *floor_checks(gates, candidate, baseline),
    ]


def computable_check(
    gates: Gates,
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    absent: list[str] | None = None,
) -> Check:
    """Every gated metric (reported, floors, improvement, guards) computable for the candidate
    and the champion; ``absent``: the classes the evaluation rows lack (named if any)."""
    needed = gated(gates)
    bad = [m for m in needed if not _finite(candidate.get(m))]
    if champion is not None:
        bad += [f"champion {m}" for m in needed if not _finite(champion.get(m))]
    why = f"the rows hold no {absent} label" if absent else "for instance one class only"
    return Check(
        "metrics_computable",
        not bad,
        f"cannot compute {', '.join(bad)} on the evaluation rows ({why}): failing closed"
        if bad
        else f"computed {', '.join(needed)}",
        figures={"metric": bad[0]} if bad else None,
    )


def floor_checks(
    gates: Gates, candidate: dict[str, float], baseline: dict[str, float] | None = None
) -> list[Check]:
    """A floor for the improvement metric (or fail closed), and every floor met."""
    out = []
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
        word = "at most" if name in LOWER_IS_BETTER else "at least"
        base = (baseline or {}).get(name)
        also = f"; baseline {_fmt(base)}" if base is not None else ""
        out.append(
            Check(
                f"floor_{name}",
                ok,
                f"{name} {_fmt(value)} vs floor {floor} (must be {word} the floor{also})",
                figures=_figures(name, value, "floor", floor),
            )
        )
    return out


def _figures(metric: str, candidate: float | None, against: str, other: float | None) -> dict:
    return {"metric": metric, "candidate": candidate, "against": against, "other": other}


def baseline_check(gates: Gates, candidate: float, baseline: float, ci: dict) -> Check:
    """The candidate against the logistic-regression baseline on the improvement metric, by
    ``gates.baseline`` (the guard metrics have :func:`guard_check`)."""
    from r2p.evaluation.metrics import improvement

    metric, policy = gates.improvement.metric, gates.baseline
    gain = improvement(metric, candidate, baseline)
    figures = f"{metric} {candidate:.4f} vs baseline {baseline:.4f}"
    more = f"improvement {gain:+.4f}, {_pct(gates)} interval {ci['low']:+.4f}..{ci['high']:+.4f}"
    fig = _figures(metric, candidate, "baseline", baseline)
    if policy == "ignore":
        detail = f"{figures}; {more}; reported only (gates.baseline: ignore)"
        return Check("baseline", True, detail, figures=fig)
    if policy == "better":
        ok = _finite(ci["lower_bound"]) and ci["lower_bound"] > 0
        said = "better" if ok else "not better"
        return Check(
            "baseline",
            ok,
            f"{figures} ({said} than the baseline with {_pct(gates)} confidence); {more}; "
            "must beat it with confidence (gates.baseline: better)",
            figures=fig,
        )
    ok = _finite(ci["high"]) and ci["high"] >= 0
    said = "not worse with confidence" if ok else f"baseline better with {_pct(gates)} confidence"
    return Check(
        "baseline",
        ok,
        f"{figures} ({said}); {more}; the baseline must not be better with confidence",
        figures=fig,
    )


def improvement_check(gates: Gates, candidate: float, champion: float, ci: dict) -> Check:
    """The one-sided lower bound of the paired-bootstrap improvement exceeds ``min_delta``."""
    imp = gates.improvement
    ok = _finite(ci["lower_bound"]) and ci["lower_bound"] > imp.min_delta
    said = "better" if ok else "not better"
    return Check(
        "beats_champion",
        ok,
        f"{imp.metric} {candidate:.4f} vs champion {champion:.4f} ({said} with "
        f"{imp.confidence:.0%} confidence); improvement {_pct(gates)} interval "
        f"{ci['low']:+.4f}..{ci['high']:+.4f}, one-sided {imp.confidence:.0%} lower bound "
        f"{ci['lower_bound']:+.4f} must exceed {imp.min_delta} ({imp.bootstrap_samples} "
        "paired resamples)",
        figures=_figures(imp.metric, candidate, "champion", champion),
    )


def guard_rows(
    gates: Gates, point: dict[str, dict[str, float]], deltas: dict[str, Any], against: str
) -> list[dict[str, Any]]:
    """Per guard metric, the candidate against ``against`` (baseline or champion): both
    values, the improvement and its paired-bootstrap interval, the regression allowed
    (``gates.max_regression``, champion only), and whether the guard holds."""
    rows = []
    for m in gates.guard:
        d = deltas[m]
        cand, other, high = point["candidate"].get(m), point[against].get(m), d["improvement_high"]
        allowed = gates.max_regression.get(m, 0.0) if against == "champion" else 0.0
        computable = _finite(cand) and _finite(other) and _finite(high)
        rows.append(
            {"metric": m, "candidate": cand, "against": against, "other": other,
             "improvement": d["improvement"], "low": d["improvement_low"], "high": high,
             "allowed": allowed, "computable": computable,
             "passed": computable and high >= -allowed}
        )  # fmt: skip
    return rows


def guard_check(gates: Gates, rows: list[dict[str, Any]], against: str) -> Check:
    """``<against>_guard``: no guard metric worse than ``against``'s with confidence (beyond
    the allowed regression); one that cannot be compared fails closed, naming the metric."""
    name = f"{against}_guard"
    if not rows:
        return Check(name, True, "gates.guard is empty: no guard metric")
    failed = [r for r in rows if not r["passed"]]
    held = [r for r in rows if r["passed"]]
    parts = [_guard_text(gates, r) for r in failed]
    if held:
        parts.append("held: " + ", ".join(f"{r['metric']} {_interval(r)}" for r in held))
    ignored = against == "baseline" and gates.baseline == "ignore"
    if ignored:
        parts.append("reported only (gates.baseline: ignore)")
    first = failed[0] if failed else None
    figures = (
        _figures(first["metric"], first["candidate"], against, first["other"]) if first else None
    )
    return Check(name, ignored or not failed, "; ".join(parts), figures=figures)


def _guard_text(gates: Gates, row: dict[str, Any]) -> str:
    m, against = row["metric"], row["against"]
    figures = f"{m} {_fmt(row['candidate'])} vs {against} {_fmt(row['other'])}"
    if not row["computable"]:
        return (
            f"{figures} (cannot be compared: no paired interval on these rows, for instance "
            "one class only; failing closed)"
        )
    beyond = f" by more than the allowed {row['allowed']}" if row["allowed"] else ""
    who = "baseline better" if against == "baseline" else f"worse than the champion{beyond}"
    return f"{figures} ({who} with {_pct(gates)} confidence: improvement {_interval(row)})"


def _interval(row: dict[str, Any]) -> str:
    return f"{row['improvement']:+.4f} [{row['low']:+.4f}, {row['high']:+.4f}]"


def degenerate_check(
    gates: Gates, classes: list[str], predicted: list[float], labelled: list[float], rows: int
) -> Check:
    """A candidate that predicts one class for at least ``gates.degenerate_share`` of the rows
    while the labels hold less of it learned nothing but that class: rejected by name."""
    k = max(range(len(classes)), key=lambda i: predicted[i])
    share, label, limit = predicted[k], labelled[k], gates.degenerate_share
    bad = share >= limit and label < limit
    text = f"predicts {classes[k]!r} for {share:.1%} of {rows} rows, {label:.1%} of the labels"
    rule = f"degenerate: one class for at least {limit:.0%} of the rows when the labels hold less"
    figures = _figures("predicted share", share, "labels", label) | {"class": classes[k]}
    return Check("degenerate", not bad, f"{text} ({rule})", figures=figures)


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
        "no champion yet; gates.first_run: promote (floors, baseline and guards decide)"
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
    where = (
        f"{rows} rows labelled after {after} (opened by the {set_by})"
        if after != "-"
        else f"{rows} rows of the {set_by}"  # a random split: no time opens the window
    )
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
