"""Read one landing partition strictly: any batch defect refuses the whole batch.

Batch defects, each reported with the file and a problem code: no contract, a bad or
inconsistent manifest, a file whose bytes or rows differ from the manifest, non-UTF-8 bytes,
a truncated or unparsable file, missing or unknown columns, values of the wrong type, and an
empty partition. What passes is one Arrow table with exactly the declared schema.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from r2p import storage
from r2p.config.schema import PipelineConfig
from r2p.errors import BatchRejected
from r2p.ingest.contract import MANIFEST, contract_name, data_files, partition_path
from r2p.ingest.schema import ARROW, SourceSchema


@dataclass
class Problem:
    file: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.code}: {self.message}"


@dataclass
class Batch:
    """A landing partition that passed every batch check."""

    table: pa.Table
    landing_uri: str
    files: list[dict[str, Any]] = field(default_factory=list)
    contract: str = MANIFEST


def _manifest_entries(part: storage.ObjectStoragePath, problems: list[Problem]) -> dict | None:
    try:
        manifest = json.loads((part / MANIFEST).read_bytes().decode("utf-8"))
        entries = {e["path"]: e for e in manifest["files"]}
        for e in entries.values():
            int(e["rows"]), str(e["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(Problem(MANIFEST, "bad_manifest", f"unreadable manifest: {exc}"))
        return None
    return entries


def _parse_csv(name: str, data: bytes, schema: SourceSchema) -> pa.Table | Problem:
    if not data:
        return Problem(name, "unparsable", "empty file: not even a header")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem(name, "not_utf8", f"bytes that are not UTF-8 at offset {exc.start}")
    if not data.endswith(b"\n"):
        return Problem(name, "truncated", "the file ends mid-row (no final newline)")
    convert = pacsv.ConvertOptions(
        column_types={h: pa.string() for h in schema.headers},
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=False,
    )
    try:
        return pacsv.read_csv(io.BytesIO(data), convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return Problem(name, "unparsable", str(exc).splitlines()[0])


def _parse_parquet(name: str, data: bytes) -> pa.Table | Problem:
    try:
        return pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        return Problem(name, "unparsable", f"truncated or corrupt Parquet: {exc}")


def _bad_values(col: pa.ChunkedArray, dtype: str) -> tuple[int, list[str]]:
    series = col.to_pandas()
    if dtype == "timestamp":
        parsed = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    elif dtype == "bool":
        parsed = series.map(
            lambda v: (
                v
                if v is None or isinstance(v, bool)
                else {"true": True, "false": False, "1": True, "0": False}.get(str(v).lower())
            )
        )
    else:
        parsed = pd.to_numeric(series, errors="coerce")
        if dtype == "int64":  # an integer, possibly written as 12.0; never inf or NaN
            finite = np.isfinite(parsed.astype("float64"))
            parsed = parsed.where(finite & (parsed == parsed.round()))
    bad = series.notna() & parsed.isna()
    return int(bad.sum()), [repr(v) for v in series[bad].head(3)]


def _integral(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """An int64 column written with a decimal point (``12.0``, as a float column with gaps is
    often written), or None when some value is not a finite integer."""
    try:
        x = col.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    values = x.to_numpy(zero_copy_only=False)
    null = np.asarray(x.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
    if not (null | whole).all():
        return None
    return x.cast(pa.int64())


def _header_problems(name: str, present: list[str], schema: SourceSchema) -> list[Problem]:
    """Missing, unknown and duplicate headers, each naming r2p's column and its header."""
    problems = []
    dupes = sorted({h for h in present if present.count(h) > 1})
    if dupes:
        problems.append(Problem(name, "unparsable", f"duplicate headers {dupes}"))
    missing = [
        f.name if f.header is None else f"{f.name} (source_name {f.header!r})"
        for f in schema.fields
        if f.source_header not in present
    ]
    unknown = [h for h in present if h not in schema.headers]
    if missing:
        problems.append(
            Problem(
                name,
                "missing_columns",
                f"missing columns {missing}; the file's headers are {present}",
            )
        )
    if unknown:
        problems.append(
            Problem(
                name,
                "unknown_columns",
                f"unknown columns {unknown}: declare them in the config (with source_name "
                "when the header is not an identifier) or stop sending them",
            )
        )
    return problems


def _cast(name: str, f: Any, col: pa.ChunkedArray) -> pa.ChunkedArray | Problem:
    if f.dtype not in ("string", "category") and pa.types.is_string(col.type):
        # "" (quoted or not) in a number, bool or timestamp column is a missing value
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    try:
        return col.cast(ARROW[f.dtype])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        if f.dtype == "int64" and (whole := _integral(col)) is not None:
            return whole
        count, examples = _bad_values(col, f.dtype)
        where = f"column {f.name!r}" + (f" (header {f.header!r})" if f.header else "")
        if count == 0:  # the cast failed for a reason the value check does not see
            detail = str(exc).splitlines()[0]
            return Problem(name, "wrong_type", f"{where} is not {f.dtype}: {detail}")
        return Problem(
            name,
            "wrong_type",
            f"{where} ({f.dtype}) has {count} value(s) of another type, e.g. {', '.join(examples)}",
        )


def _coerce(name: str, table: pa.Table, schema: SourceSchema) -> pa.Table | list[Problem]:
    problems = _header_problems(name, table.column_names, schema)
    if problems:
        return problems
    arrays = []
    for f in schema.fields:
        cast = _cast(name, f, table.column(f.source_header))
        if isinstance(cast, Problem):
            problems.append(cast)
        elif f.dtype == "float64" and f.nullable:  # NaN is a gap here, as null is
            arrays.append(pc.if_else(pc.is_nan(cast), pa.scalar(None, pa.float64()), cast))
        else:
            arrays.append(cast)
    if problems:
        return problems
    return pa.Table.from_arrays(arrays, names=schema.names)


def read_batch(cfg: PipelineConfig, schema: SourceSchema, day: dt.date) -> Batch:
    """Read and type the landing partition of ``schema`` for ``day``, or raise BatchRejected."""
    part = partition_path(cfg, schema.name, day)
    uri = storage.uri_of(part)
    contract = contract_name(cfg)
    problems: list[Problem] = []
    if not (part / contract).exists():
        raise _reject(
            schema,
            day,
            uri,
            [
                Problem(
                    contract,
                    "no_contract",
                    "the partition has no contract; a partition without one is never read",
                )
            ],
        )
    entries = _manifest_entries(part, problems) if contract == MANIFEST else None
    files = data_files(part)
    if entries is not None:
        names = {p.name for p in files}
        problems += [
            Problem(n, "missing_file", "listed in the manifest but absent")
            for n in sorted(set(entries) - names)
        ]
        problems += [
            Problem(n, "unlisted_file", "present but not in the manifest")
            for n in sorted(names - set(entries))
        ]
    tables, described = [], []
    for path in files:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        entry = (entries or {}).get(path.name)
        if entry is not None and entry["sha256"] != sha:
            problems.append(
                Problem(
                    path.name,
                    "sha256_mismatch",
                    f"sha256 {sha[:12]}… differs from the manifest's {str(entry['sha256'])[:12]}…",
                )
            )
            continue
        parsed = (
            _parse_parquet(path.name, data)
            if path.suffix == ".parquet"
            else _parse_csv(path.name, data, schema)
        )
        if isinstance(parsed, Problem):
            problems.append(parsed)
            continue
        if entry is not None and int(entry["rows"]) != parsed.num_rows:
            problems.append(
                Problem(
                    path.name,
                    "row_count_mismatch",
                    f"{parsed.num_rows} rows, the manifest says {entry['rows']}",
                )
            )
            continue
        typed = _coerce(path.name, parsed, schema)
        if isinstance(typed, list):
            problems += typed
            continue
        tables.append(typed)
        described.append(
            {"path": path.name, "rows": typed.num_rows, "sha256": sha, "bytes": len(data)}
        )
    if not problems and sum(t.num_rows for t in tables) == 0:
        problems.append(
            Problem(
                contract if not files else files[0].name,
                "empty_partition",
                "the partition has no rows",
            )
        )
    if problems:
        raise _reject(schema, day, uri, problems)
    return Batch(pa.concat_tables(tables), uri, described, contract)


def _reject(schema: SourceSchema, day: dt.date, uri: str, problems: list[Problem]) -> BatchRejected:
    head = f"batch {schema.dataset}/{schema.name} ds={day.isoformat()} refused"
    detail = "; ".join(str(p) for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    record = {
        "kind": "batch_rejected",
        "dataset": schema.dataset,
        "source": schema.name,
        "ds": day.isoformat(),
        "landing_uri": uri,
        "problems": [{"file": p.file, "code": p.code, "message": p.message} for p in problems],
    }
    return BatchRejected(f"{head}: {detail}{more} [{uri}]", record)
