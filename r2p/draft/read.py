"""Reading a producer's table the way ``r2p init`` and ``r2p land`` both see it.

A CSV may use any common delimiter (``,`` ``;`` tab ``|``, sniffed from the first lines),
must be UTF-8 (a byte-order mark is dropped) and has one header row. When *every* header is
wrapped in the same quote character (``'popul'``, as statsmodels' anes96.csv writes them),
the quotes are stripped from the headers, and the stripped name is the landing header. Gaps
are pandas' defaults (empty, ``NA``, ``NaN``, ``null`` ...). A Parquet file (by its ``PAR1``
magic bytes) is read as it is.

Two tidy-ups make the values land as they were meant: a float column whose values are all
whole numbers and that has gaps (pandas reads ``181,NA`` as floats) becomes a nullable
integer column, and a column of True/False with gaps a nullable boolean one.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Literal

import pandas as pd

from r2p.errors import DataError

DELIMITERS = (",", ";", "\t", "|")
QUOTES = ("'", '"')
_SNIFF_LINES = 50


class DraftError(DataError):
    """A sample table or a request that ``r2p init`` cannot draft a config from."""


class TableError(DraftError):
    """A file that cannot be read as a table; the message names the column and the fix."""


def table_format(path: str | Path) -> Literal["csv", "parquet"]:
    """``parquet`` for a file that starts with Parquet's magic bytes, else ``csv``."""
    with Path(path).open("rb") as fh:
        return "parquet" if fh.read(4) == b"PAR1" else "csv"


def read_table(path: str | Path) -> pd.DataFrame:
    """The table in ``path`` (CSV or Parquet) with its headers as columns, quotes stripped.

    Raises TableError for a missing or empty file, bytes that are not UTF-8 (naming the
    header or the line and column), a blank or duplicate header, or rows that do not parse.
    A file with a header but no rows gives an empty frame with those columns.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"no such file: {path}")
    parquet = table_format(path) == "parquet"
    return _tidy(_read_parquet(path) if parquet else _read_csv(path.read_bytes()))


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise TableError(f"not a readable Parquet file: {exc}") from None
    headers = _strip_quotes([str(c) for c in frame.columns])
    _check_headers(headers)
    frame.columns = headers
    return frame.reset_index(drop=True)


def _read_csv(data: bytes) -> pd.DataFrame:
    if not data.strip():
        raise TableError("empty file: not even a header row; give a header row and sample rows")
    text = _decode(data)
    delimiter = sniff_delimiter(text)
    raw = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    headers = _strip_quotes(raw)
    _check_headers(headers)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=0,
            names=headers,
            index_col=False,
            low_memory=False,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise TableError(f"rows that do not parse as {_name(delimiter)}-separated: {exc}") from None
    return frame


def sniff_delimiter(text: str) -> str:
    """The delimiter among ``, ; tab |`` that splits the first lines into the most columns,
    the same number on every line (``,`` when none splits the header)."""
    lines = [ln for ln in text.splitlines()[:_SNIFF_LINES] if ln.strip()]
    best, best_score = ",", (0, 0, 0)
    for delim in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts)
        score = (int(consistent == len(counts)), consistent, counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _name(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}[delimiter]


def _strip_quotes(headers: list[str]) -> list[str]:
    """The headers without their quotes when every one is wrapped in the same quote."""
    for q in QUOTES:
        if headers and all(len(h) >= 2 and h[0] == q and h[-1] == q for h in headers):
            return [h[1:-1] for h in headers]
    return headers


def _check_headers(headers: list[str]) -> None:
    for i, h in enumerate(headers, 1):
        if not h.strip():
            raise TableError(
                f"column {i} has no header (a blank name): name it in the file, or drop it"
            )
    seen: dict[str, int] = {}
    for i, h in enumerate(headers, 1):
        if h in seen:
            raise TableError(
                f"duplicate header {h!r} (columns {seen[h]} and {i}): rename one of them in "
                "the file, or drop it"
            )
        seen[h] = i


def _decode(data: bytes) -> str:
    """``data`` as UTF-8 text, or TableError naming the header or line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TableError(_not_utf8(data, exc.start)) from None


def _not_utf8(data: bytes, offset: int) -> str:
    first_end = data.find(b"\n")
    first = data[: first_end if first_end >= 0 else len(data)].decode("latin-1")
    delimiter = sniff_delimiter(first)
    headers = _strip_quotes(first.rstrip("\r").split(delimiter))
    start = data.rfind(b"\n", 0, offset) + 1
    column = data[start:offset].count(delimiter.encode())
    byte = f"byte 0x{data[offset]:02x} at offset {offset}"
    fix = "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    if start == 0:
        header = headers[column] if column < len(headers) else f"#{column + 1}"
        return f"header {header!r} (column {column + 1}) is not UTF-8 text ({byte}): {fix}"
    line = data.count(b"\n", 0, offset) + 1
    header = headers[column] if column < len(headers) else f"#{column + 1}"
    return f"line {line}, column {header!r}: bytes that are not UTF-8 ({byte}): {fix}"


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole-number float columns with gaps as nullable integers, True/False with gaps as
    nullable booleans; other columns as read."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if not s.isna().any() or s.isna().all():
            continue
        present = s.dropna()
        if pd.api.types.is_float_dtype(s) and (present == present.round()).all():
            if present.abs().max() < 2**53:
                out[col] = s.astype("Int64")
        elif s.dtype == object and present.map(lambda v: isinstance(v, bool)).all():
            out[col] = s.astype("boolean")
    return out
