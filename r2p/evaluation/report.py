"""The evaluation report: one self-contained HTML page (inline SVG, no script, no external
file) a person reads to see why a model was or was not promoted."""

from __future__ import annotations

import html
import math
from typing import Any

COLOURS = {
    "candidate": "#1f77b4",
    "candidate (uncalibrated)": "#9ecae1",
    "champion": "#d62728",
    "baseline": "#7f7f7f",
    "reference_hgb": "#2ca02c",
}
# Reported models, never gated: decision.json key -> the report's name for them
REFERENCES = {"reference_hgb": "HGB reference (not gated)"}
VERDICT_COLOURS = {
    "promote": "#27ae60",
    "reject": "#eb5757",
    "not_evaluated": "#f2994a",
    "unchanged": "#2d9cdb",
}
CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}.badge{color:#fff;
padding:4px 10px;border-radius:4px;font-weight:bold}.fail{color:#b00020;font-weight:bold}
.pass{color:#1b7f3b}svg{margin:0 1em 1em 0;border:1px solid #ddd}code{font-size:90%}
.grid{display:flex;flex-wrap:wrap}small{color:#666}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "&ndash;"
    return f"{x:.{digits}f}" if isinstance(x, float) else _e(x)


def _delta(d: dict[str, Any] | None) -> str:
    if not d:
        return "&ndash;"
    return f"{d['delta']:+.4f} <small>[{_num(d['low'])}, {_num(d['high'])}]</small>"


def _metrics_table(decision: dict[str, Any]) -> str:
    metrics = decision["metrics"]
    floors = decision["thresholds"]["floors"]
    deltas = decision.get("deltas", {})
    refs = [k for k in REFERENCES if k in metrics]
    models = ["candidate", "champion", "baseline", *refs]
    against = ["champion", "baseline", *refs]
    rows = []
    for m in sorted(metrics.get("candidate", {})):
        cells = [f'<td class="l">{_e(m)}</td>']
        cells += [f"<td>{_num(metrics.get(k, {}).get(m))}</td>" for k in models]
        cells += [f"<td>{_delta(deltas.get(f'vs_{k}', {}).get(m))}</td>" for k in against]
        cells.append(f"<td>{_num(floors.get(m))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    conf = decision["thresholds"]["improvement"]["confidence"]
    names = {"candidate": "candidate", "champion": "champion", "baseline": "baseline", **REFERENCES}
    head = (
        '<tr><th class="l">metric</th>'
        + "".join(f"<th>{_e(names[k])}</th>" for k in models)
        + "".join(f"<th>candidate &minus; {_e(names[k])} [{conf:.0%} CI]</th>" for k in against)
        + "<th>floor</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>{_reference_note(decision)}"


def _reference_note(decision: dict[str, Any]) -> str:
    """What the reported reference is, or why it is missing; it never decides."""
    ref = decision.get("reference")
    if not ref:
        return ""
    if ref.get("error"):
        return f'<p class="fail">HGB reference (not gated) failed: {_e(ref["error"])}</p>'
    return (
        f"<p><small>HGB reference (not gated): {_e(ref['kind'])} fitted on the candidate's "
        f"train split ({ref['train_rows']} rows) with its encoding, to show how far the "
        "candidate is from a strong tabular model; it never changes the verdict.</small></p>"
    )


def _checks_table(decision: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td class="l">{_e(c["name"])}</td><td class="l '
        f'{"pass" if c["passed"] else "fail"}">{"passed" if c["passed"] else "FAILED"}</td>'
        f'<td class="l">{_e(c["detail"])}</td></tr>'
        for c in decision["checks"]
    )
    head = '<tr><th class="l">gate</th><th class="l">result</th><th class="l">detail</th></tr>'
    return f"<table>{head}{rows}</table>"


def _guards_section(decision: dict[str, Any]) -> list[str]:
    """Every guard metric's paired interval against the baseline and the champion, and
    whether it held, with the check that decided the verdict."""
    guards = decision.get("guards") or {}
    against = [a for a in ("baseline", "champion") if f"vs_{a}" in guards]
    if not against:
        return []
    head = '<tr><th class="l">guard metric</th><th>candidate</th>' + "".join(
        f"<th>{a}</th><th>improvement vs {a} [CI]</th><th>allowed regression</th><th>result</th>"
        for a in against
    )
    rows = []
    for i, first in enumerate(guards[f"vs_{against[0]}"]):
        cells = f'<td class="l">{_e(first["metric"])}</td><td>{_num(first["candidate"])}</td>'
        cells += "".join(_guard_cells(guards[f"vs_{a}"][i]) for a in against)
        rows.append(f"<tr>{cells}</tr>")
    decided = decision.get("decided_by") or {}
    on = f" on {_e(decided['metric'])}" if decided.get("metric") else ""
    conf = decision["thresholds"]["improvement"]["confidence"]
    note = (
        f"<p>A guard fails when the whole {conf:.0%} paired-bootstrap interval of the "
        "candidate's improvement lies below minus the allowed regression (positive = better). "
        f"Decided by: <b>{_e(decided.get('check', 'every gate passed'))}</b>{on}.</p>"
    )
    return ["<h2>Guards</h2>", note, f"<table>{head}{''.join(rows)}</table>"]


def _guard_cells(r: dict[str, Any]) -> str:
    result = "held" if r["passed"] else "FAILED"
    return (
        f"<td>{_num(r['other'])}</td><td>{_num(r['improvement'])} <small>[{_num(r['low'])}, "
        f"{_num(r['high'])}]</small></td><td>{_num(r['allowed'])}</td>"
        f'<td class="l {"pass" if r["passed"] else "fail"}">{result}</td>'
    )


def _plot(title: str, xlabel: str, ylabel: str, series: dict[str, list], diagonal: int) -> str:
    w, h, pad = 320, 300, 40
    size_x, size_y = w - 2 * pad, h - 2 * pad

    def pt(x: float, y: float) -> str:
        return f"{pad + x * size_x:.1f},{h - pad - y * size_y:.1f}"

    parts = [
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="13">{_e(title)}</text>',
        f'<rect x="{pad}" y="{pad}" width="{size_x}" height="{size_y}" fill="none" stroke="#999"/>',
        f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle" font-size="11">{_e(xlabel)}</text>',
        f'<text x="12" y="{h / 2}" font-size="11" transform="rotate(-90 12 {h / 2})" '
        f'text-anchor="middle">{_e(ylabel)}</text>',
    ]
    for t in (0, 0.5, 1):
        y_tick, x_tick = h - pad - t * size_y + 4, pad + t * size_x
        parts.append(f'<text x="{pad - 4}" y="{y_tick}" font-size="9" text-anchor="end">{t}</text>')
        parts.append(f'<text x="{x_tick}" y="{h - pad + 12}" font-size="9">{t}</text>')
    if diagonal:
        diag = f"{pt(0, 0)} {pt(1, 1)}"
        parts.append(f'<polyline points="{diag}" stroke="#ccc" stroke-dasharray="4" fill="none"/>')
    for i, (name, points) in enumerate(series.items()):
        line = " ".join(pt(x, y) for x, y in points)
        colour = COLOURS[name]
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.6"/>'
        )
        parts.append(
            f'<text x="{w - pad - 4}" y="{h - pad - 8 - 13 * i}" font-size="10" text-anchor="end" '
            f'fill="{COLOURS[name]}">{_e(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _curves(curves: dict[str, dict[str, Any]]) -> str:
    classes = sorted({c for per_model in curves.values() for c in per_model})
    out = []
    for cls in classes:
        roc = {m: c[cls]["roc"] for m, c in curves.items() if cls in c}
        pr = {m: c[cls]["pr"] for m, c in curves.items() if cls in c}
        out.append(_plot(f"ROC, class {cls}", "false positive rate", "true positive rate", roc, 1))
        out.append(_plot(f"Precision-recall, class {cls}", "recall", "precision", pr, 0))
    return f'<div class="grid">{"".join(out)}</div>'


def _reliability(rel: dict[str, Any] | None) -> str:
    """The reliability diagram (mean predicted probability against observed frequency per
    bin) before and after calibration, each model's expected calibration error, and what the
    export applies."""
    if not rel or not rel.get("models"):
        return "<p><small>no reliability figures</small></p>"
    models = rel["models"]
    kind = next(iter(models.values()))["kind"]
    series = {m: [[b["confidence"], b["frequency"]] for b in r["bins"]] for m, r in models.items()}
    plot = _plot(f"reliability ({kind})", "mean predicted probability", "observed frequency",
                 series, diagonal=1)  # fmt: skip
    rows = "".join(
        f'<tr><td class="l">{_e(m)}</td><td>{_num(r["ece"])}</td>'
        f"<td>{sum(b['rows'] for b in r['bins'])}</td></tr>"
        for m, r in models.items()
    )
    cal = rel.get("calibration") or {"method": "none"}
    fit = cal.get("fit") or {}
    thr = fit.get("threshold")
    said = (
        f"<p>Calibration <code>{_e(cal['method'])}</code> (scale {_num(cal.get('scale'))}, "
        f"bias {_e(cal.get('bias'))}), fitted on {_e(fit.get('rows', '-'))} validation rows: "
        f"log loss {_num(fit.get('log_loss_before'))} &rarr; {_num(fit.get('log_loss_after'))}, "
        f"ECE {_num(fit.get('ece_before'))} &rarr; {_num(fit.get('ece_after'))}."
    )
    if thr:
        said += (
            f" Operating threshold {_num(thr['value'])} ({_e(thr['optimize'])} on validation: "
            f"precision {_num(thr['precision'])}, recall {_num(thr['recall'])}, "
            f"F1 {_num(thr['f1'])})."
        )
    table = (
        '<table><tr><th class="l">model</th><th>ECE on the window</th><th>rows</th></tr>'
        f"{rows}</table>"
    )
    return f'{said}</p><div class="grid">{plot}{table}</div>'


def _confusion(name: str, matrix: list[list[int]], classes: list[str]) -> str:
    head = "".join(f"<th>pred {_e(c)}</th>" for c in classes)
    rows = "".join(
        f'<tr><th class="l">actual {_e(c)}</th>' + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
        for c, row in zip(classes, matrix, strict=True)
    )
    return f"<div><b>{_e(name)}</b><table><tr><th></th>{head}</tr>{rows}</table></div>"


def _per_class(per_class: dict[str, dict[str, dict[str, float]]]) -> str:
    rows = []
    for model, table in per_class.items():
        for cls, m in table.items():
            rows.append(
                f'<tr><td class="l">{_e(model)}</td><td class="l">{_e(cls)}</td>'
                f"<td>{_num(m['precision'])}</td><td>{_num(m['recall'])}</td>"
                f"<td>{_num(m['f1'])}</td><td>{m['support']}</td></tr>"
            )
    head = (
        '<tr><th class="l">model</th><th class="l">class</th><th>precision</th><th>recall</th>'
        "<th>F1</th><th>support</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _candidates(decision: dict[str, Any]) -> str:
    """Every candidate of the run: the ranked ones with their validation figures, the failed
    ones with the stage they failed at and the error."""
    rows = decision.get("candidates") or []
    names = sorted({m for row in rows for m in row["metrics"]})
    head = (
        '<tr><th>rank</th><th class="l">model</th><th class="l">chosen</th>'
        + "".join(f"<th>{_e(m)}</th>" for m in names)
        + '<th>parity agreement</th><th class="l">export / failed at</th>'
        '<th class="l">error</th></tr>'
    )
    return f"<table>{head}{''.join(_candidate_row(row, names) for row in rows)}</table>"


def _candidate_row(row: dict[str, Any], names: list[str]) -> str:
    failed = row.get("failed")
    parity = row.get("parity") or {}
    where = (
        f'<td class="l fail">{_e(failed.get("stage", "-"))}</td>'
        f'<td class="l">{_e(failed.get("error", ""))}</td>'
        if failed
        else f'<td class="l"><code>{_e(row["export_uri"])}</code></td><td class="l"></td>'
    )
    chosen = '<b class="pass">chosen</b>' if row.get("chosen") else ""
    agreement = parity.get("agreement")
    return (
        f'<tr><td>{_num(row.get("rank"))}</td><td class="l">{_e(row["model"])}</td>'
        f'<td class="l">{chosen}</td>'
        + "".join(f"<td>{_num(row['metrics'].get(m))}</td>" for m in names)
        + f"<td>{'&ndash;' if agreement is None else f'{agreement:.2%}'}</td>{where}</tr>"
    )


def _lineage(decision: dict[str, Any]) -> str:
    keys = (
        "model", "export_uri", "pb_sha256", "registry_version", "mlflow_run_id", "trained_by_run",
        "feature_service", "dataset_uri", "dataset_hash", "data_end", "train_valid_end",
        "code_version", "from_backfill",
    )  # fmt: skip
    models = {k: decision.get(k) for k in ("candidate", "champion")}
    head = "".join(f'<th class="l">{k}</th>' for k, v in models.items() if v)
    rows = "".join(
        f'<tr><th class="l">{k}</th>'
        + "".join(
            f'<td class="l"><code>{_e(v.get(k, "-"))}</code></td>' for v in models.values() if v
        )
        + "</tr>"
        for k in keys
    )
    return f'<table><tr><th class="l"></th>{head}</tr>{rows}</table>'


def render(decision: dict[str, Any], figures: dict[str, Any]) -> str:
    """The page for one evaluation: ``figures`` holds curves, confusion matrices, per-class."""
    verdict = decision["verdict"]
    window = decision["window"]
    body = [
        f"<h1>{_e(decision['pipeline'])}: evaluation of {_e(decision['candidate']['model'])}</h1>",
        f'<p><span class="badge" style="background:{VERDICT_COLOURS.get(verdict, "#555")}">'
        f"{_e(verdict)}</span> {_e(decision['reason'])}</p>",
        f"<p>Run <code>{_e(decision['run_id'])}</code>, evaluated {_e(decision['evaluated_at'])}; "
        f"averaging: {_e(decision['averaging'])}.</p>",
        *_candidates_section(decision),
        "<h2>Evaluation window</h2>",
        f"<p>Labels after <b>{_e(window['after'])}</b> (opened by the {_e(window['opened_by'])}"
        f"'s train+valid end) through <b>{_e(window['through'])}</b>, arrived before "
        f"{_e(window['labels_arrived_before'])}: {window['rows']} rows, {window['entities']} "
        f"entities, from <code>{_e(window['source_dataset_uri'])}</code>.</p>",
        "<h2>Gates</h2>",
        _checks_table(decision),
        *_guards_section(decision),
        *(_figures_section(decision, figures) if decision.get("metrics") else []),
        "<h2>Lineage</h2>",
        _lineage(decision),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(decision['pipeline'])} evaluation: {_e(verdict)}</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _candidates_section(decision: dict[str, Any]) -> list[str]:
    rows = decision.get("candidates")
    if not rows:
        return []
    chosen = decision["chosen"]
    split = {"valid": "validation"}.get(rows[0]["split"], rows[0]["split"])
    return [
        "<h2>Candidates</h2>",
        f"<p>{_e(chosen['model'])}: {_e(chosen['why'])}. Figures from each candidate's retrain "
        f"record on the {_e(split)} split, ranked by {_e(rows[0]['rank_metric'])}.</p>",
        _candidates(decision),
    ]


def _figures_section(decision: dict[str, Any], figures: dict[str, Any]) -> list[str]:
    confusions = "".join(
        _confusion(m, figures["confusion"][m], decision["classes"])
        for m in figures.get("confusion", {})
    )
    return [
        "<h2>Metrics</h2>",
        _metrics_table(decision),
        "<h2>Curves</h2>",
        _curves(figures.get("curves", {})),
        "<h2>Calibration</h2>",
        _reliability(figures.get("reliability")),
        "<h2>Confusion matrices</h2>",
        f'<div class="grid">{confusions}</div>',
        "<h2>Per-class metrics</h2>",
        _per_class(figures.get("per_class", {})),
    ]
