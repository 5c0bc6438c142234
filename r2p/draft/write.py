"""The draft as a commented pipeline YAML, checked by the loader before it is written.

The text is written by hand (PyYAML cannot keep comments): every string a reader types is
quoted the JSON way, which YAML reads as the same string, so ``NA``, ``yes`` or ``1`` stay
text. Each inferred decision gets a comment saying why.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from r2p.config.loader import ConfigError, load_config
from r2p.draft.infer import SOURCE, TEST_FRACTION, VALID_FRACTION, ColumnInfo, Draft
from r2p.draft.read import DraftError

_BARE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def q(value: str) -> str:
    """``value`` as a double-quoted YAML scalar."""
    return json.dumps(value, ensure_ascii=False)


def flow(mapping: dict[str, Any]) -> str:
    """A one-line YAML flow mapping: identifiers and numbers bare, other strings quoted."""
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in mapping.items()) + "}"


_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _scalar(value: Any) -> str:
    if isinstance(value, str) and _BARE.match(value) and value not in _YAML_WORDS:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return flow(value)
    if isinstance(value, _Quoted):
        return "[" + ", ".join(q(v) for v in value) + "]"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return q(str(value))


class _Quoted(list):
    """A list of strings written quoted, every one (categories, classes)."""


def _named(name: str, header: str | None) -> str:
    """``name``, or ``{name: ..., source_name: ...}`` when the landing header differs."""
    if header is None or header == name:
        return name
    return flow({"name": name, "source_name": header})


def render(draft: Draft, today: dt.date) -> str:
    """The whole YAML text of ``draft``."""
    parts = [_header(draft, today), _dataset(draft), _landing(draft), _training(draft)]
    parts += [_models(draft), _gates(draft)]
    return "\n".join(parts)


def _header(d: Draft, today: dt.date) -> str:
    r = d.request
    label = d.label.header
    desc = f"Predict {label} ({len(d.label.categories)} classes), drafted from {Path(r.file).name}."
    return "\n".join(
        [
            f"# Drafted by r2p init from {r.file} on {today.isoformat()}.",
            f"# {d.rows} rows in the sample. Each inferred decision has a comment saying why;",
            "# review them, then land the file (r2p land) and run the pipeline (r2p run).",
            f"pipeline: {r.pipeline}",
            f"description: {q(desc)}",
            f"start_date: {d.start_date.isoformat()}  # {d.start_note}",
            "",
        ]
    )


def _dataset(d: Draft) -> str:
    lines = [
        "dataset:",
        f"  name: {d.request.pipeline}",
        f"  # {d.entity_note}",
        f"  entity: {flow(d.entity)}",
        "  sources:",
        f"    - name: {SOURCE}",
        "      kind: snapshot  # one row per entity and timestamp",
        f"      # {d.timestamp.note}",
        f"      timestamp: {_timestamp(d.timestamp)}",
        "      cadence: daily",
        f"      ttl_days: {d.ttl_days}  # {d.ttl_note}",
        "      columns:",
    ]
    for col in d.features:
        header = " ".join(col.header.split())
        lines += [f"        # {header}: {col.note}", f"        - {flow(_column(col))}"]
    lines += _label(d)
    return "\n".join([*lines, ""])


def _timestamp(ts: ColumnInfo) -> str:
    if ts.header is None:
        return flow({"name": ts.name, "generate": "partition_date"})
    return _named(ts.name, ts.header)


def _column(col: ColumnInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"name": col.name, "dtype": col.dtype}
    if col.source_name:
        out["source_name"] = col.source_name
    if col.nullable:
        out["nullable"] = True
    if col.categories is not None:
        out["categories"] = _Quoted(col.categories)
    if col.bounds is not None:
        out["min"], out["max"] = (_plain(v) for v in col.bounds)
    return out


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _label(d: Draft) -> list[str]:
    lab = d.label
    how = d.label_note or f"--label {lab.header}"
    lines = [
        f"  # the label is a column of the {SOURCE} source, known with its row; {how}",
        "  label:",
        f"    source: {SOURCE}",
        f"    column: {_named(lab.name, lab.header)}",
        f"    classes: {_scalar(_Quoted(lab.categories))}  # {_classes_note(lab)}",
    ]
    if d.positive_class is not None:
        why = "1 or true" if d.positive_class in ("1", "true") else "the minority class"
        lines.append(f"    positive_class: {q(d.positive_class)}  # {why}")
    else:
        lines.append("    # more than two classes: no positive_class (metrics are macro averages)")
    return lines


def _classes_note(lab: ColumnInfo) -> str:
    if lab.categories == ["false", "true"]:
        return "the label's values as r2p land writes booleans"
    return "the label's distinct values, as text"


def _landing(d: Draft) -> str:
    return "\n".join(
        [
            "landing:",
            f"  format: {d.fmt}  # as the sample",
            "  contract: manifest  # r2p land writes the files, then manifest.json",
            "",
        ]
    )


def _training(d: Draft) -> str:
    p = d.plan
    if p.method == "time":
        split = {"method": "time", "valid_days": p.valid_days, "test_days": p.test_days}
    else:
        split = {
            "method": "random",
            "valid_fraction": VALID_FRACTION,
            "test_fraction": TEST_FRACTION,
            "seed": 0,
        }
        if p.group_by_entity:
            split["group_by_entity"] = True
    lines = [
        "training:",
        f"  window_days: {p.window_days}  # {p.window_note}",
        f"  # {p.reason}",
    ]
    if p.group_by_entity:
        lines.append("  # an entity has several rows: all of them go to one split")
    lines.append(f"  split: {flow(split)}")
    return "\n".join([*lines, ""])


def _models(d: Draft) -> str:
    m = d.model
    return "\n".join(
        [
            "models:",
            f"  # one small MLP; {d.model_note}",
            f"  - name: {m['name']}",
            "    layers:",
            *(f"      - {flow(layer)}" for layer in m["layers"]),
            f"    batch_size: {m['batch_size']}",
            f"    epochs: {m['epochs']}",
            f"    early_stopping: {flow(m['early_stopping'])}",
            "",
        ]
    )


def _gates(d: Draft) -> str:
    return "\n".join(
        [
            "gates:",
            "  # the evaluation window is the test split",
            f"  min_eval_rows: {d.plan.min_eval_rows}  # {d.plan.gates_note}",
            "",
        ]
    )


def check(text: str, pipeline: str) -> None:
    """DraftError unless ``text`` loads as ``<pipeline>.yaml`` exactly as written."""
    with tempfile.TemporaryDirectory(prefix="r2p-init-") as tmp:
        path = Path(tmp) / f"{pipeline}.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:  # a bug of r2p init, not of the user's file
            raise DraftError(f"the draft does not validate (please report this): {exc}") from None


def write(text: str, target: Path, force: bool) -> None:
    """Write ``text`` to ``target`` atomically; DraftError if it exists and not ``force``."""
    if target.exists() and not force:
        raise DraftError(f"{target} exists: pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
