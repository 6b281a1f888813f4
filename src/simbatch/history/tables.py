"""History files in: bytes, encodings, CSV, OData JSON and xlsx, each table recognised.

``read_tables(path)`` reads one file defensively and returns the F&O tables in it, every
cell as text (a categorical of strings, NA where empty), so that ids stay exact and no
value is guessed: ``simbatch.history.cells`` types the cells. What this module refuses,
each with one message naming the file:

- a file larger than ``MAX_BYTES`` (checked as the bytes are read, so a device or a pipe
  cannot feed it forever; special files are refused before reading), a table of more than
  ``MAX_ROWS`` rows or ``MAX_COLUMNS`` columns;
- text that is none of UTF-8 (with or without BOM), UTF-16 with a BOM, or cp1252/Latin-1
  (read as such, with a note);
- a workbook that is damaged, truncated, encrypted or an old .xls, or that unpacks to more
  than ``MAX_UNPACKED`` bytes or claims more rows or columns than the bounds (zip bombs);
  formula cells are read as the values the workbook last computed;
- a table with a duplicated column (case aside) or an empty row inside it.

A sheet or file that is no F&O table at all (a sheet holding the query text, say) is
skipped with a note; one that looks like a table but lacks a required field is refused.
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simbatch.errors import HistoryError, excerpt
from simbatch.files import SpecialFileError, read_limited
from simbatch.history.columns import FIELDS, REQUIRED, TABLES

__all__ = ["MAX_BYTES", "MAX_COLUMNS", "MAX_ROWS", "MAX_UNPACKED", "RawTable", "as_text",
           "read_tables", "recognise"]

MAX_BYTES = 1 << 30
"""The largest history file read (1 GiB: about 6 million task rows of CSV)."""
MAX_ROWS = 5_000_000
"""The most rows one table may have, all its files together."""
MAX_COLUMNS = 512
"""The most columns a table may have (an F&O table has fewer than 60)."""
MAX_UNPACKED = 512 << 20
"""The most bytes a workbook may unpack to (its zip members together)."""
_RATIO = 200
"""A zip member above 16 MB unpacked and this many times its packed size is a bomb."""


@dataclass
class RawTable:
    """One table of one file or sheet, every cell text: its kind, frame and row numbers."""

    kind: str
    source: str
    frame: pd.DataFrame
    rows: np.ndarray
    """The row number of each row in its file, as a spreadsheet counts (header = row 1)."""
    name: str = ""
    """The file's stem or the sheet's name (tells BatchConstraintsHistory from
    BatchConstraints when the ids cannot)."""


def _exclusive() -> dict[str, frozenset[str]]:
    out = {}
    for kind, fields in TABLES.items():
        others = {f.lower() for k, fs in TABLES.items() if k != kind for f in fs}
        out[kind] = frozenset(f.lower() for f in fields) - others
    return out


_EXCLUSIVE = _exclusive()


def recognise(source: str, columns: Sequence[Any]) -> tuple[str, dict[Any, str]] | None:
    """Which F&O table a header is, and its columns renamed to F&O's spelling; None when it
    is no table at all. Refuses a header that is a table's but lacks a required field, or
    that holds a column twice."""
    lower = [str(c).strip().lower() for c in columns]
    present = set(lower) & FIELDS
    ranked = []
    for order, (kind, fields) in enumerate(TABLES.items()):
        own = {f.lower() for f in fields}
        complete = {f.lower() for f in REQUIRED[kind]} <= present
        fit = len(present & own) - len(present - own)
        ranked.append((complete, fit, len(present & _EXCLUSIVE[kind]), -order, kind))
    complete, fit, exclusive, _, kind = max(ranked)
    if not complete:
        if fit < 2 or exclusive < 1:
            return None
        missing = next(f for f in REQUIRED[kind] if f.lower() not in present)
        raise HistoryError(source, f"the {kind} table has no column {missing!r} (required:"
                           f" {', '.join(REQUIRED[kind])})")
    seen: dict[str, int] = {}
    for i, name in enumerate(lower):
        if name in seen and name in FIELDS:
            raise HistoryError(source, f"the column {excerpt(str(columns[i]))} appears twice"
                               f" (columns {seen[name] + 1} and {i + 1}); a table holds"
                               " each column once")
        seen[name] = i
    spelling = {f.lower(): f for f in TABLES[kind]}
    return kind, {c: spelling[n] for c, n in zip(columns, lower, strict=True)
                  if n in spelling}


# ---- bytes and text -------------------------------------------------------------------------

def _read_bytes(path: Path) -> bytes:
    source = str(path)
    try:
        data = read_limited(path, MAX_BYTES)
    except FileNotFoundError:
        raise HistoryError(source, "no such file") from None
    except SpecialFileError as exc:
        what = "a folder" if stat.S_ISDIR(exc.mode) else "a device, pipe or socket"
        raise HistoryError(source, f"is {what}, not a file") from None
    except OSError as exc:
        raise HistoryError(source, f"cannot be read: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise HistoryError(source, f"the file is more than {MAX_BYTES:,} bytes, the most a"
                           " history file may have")
    if not data or data.isspace():
        raise HistoryError(source, "the file is empty")
    return data


def _utf8(source: str, data: bytes, notes: list[str]) -> bytes:
    """A text file's bytes as UTF-8: UTF-8 (BOM or not), UTF-16 (BOM), else cp1252 or
    Latin-1 (re-encoded, with a note)."""
    try:
        if data.startswith(b"\xef\xbb\xbf"):
            data[3:].decode("utf-8")
            return data[3:]
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16").encode("utf-8")
    except UnicodeDecodeError as exc:
        raise HistoryError(source, f"its byte-order mark says {exc.encoding} but byte"
                           f" {exc.start:,} is not: the file is damaged") from None
    if b"\x00" in data[:4096]:
        raise HistoryError(source, "holds binary data (NUL bytes), not text: save it as CSV"
                           " (UTF-8 or UTF-16 with a byte-order mark) or as xlsx")
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        notes.append(f"{source}: not UTF-8; read as {encoding} (Windows Western European)")
        return text.encode("utf-8")
    raise HistoryError(source, "is not text in UTF-8, UTF-16 or cp1252")  # pragma: no cover


# ---- CSV and JSON -------------------------------------------------------------------------------

def _frame(columns: Sequence[str], values: Iterable[Sequence[Any]]) -> pd.DataFrame:
    data = list(values)
    return pd.DataFrame({i: pd.Categorical([row[i] for row in data])
                         for i in range(len(columns))})


def _csv(source: str, data: bytes) -> tuple[list[str], pd.DataFrame]:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.csv as pacsv  # type: ignore[import-untyped]

    end = data.find(b"\n")
    first = (data if end < 0 else data[:end]).decode("utf-8").rstrip("\r")
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        raise HistoryError(source, "the first line is not a CSV header") from None
    if len(header) > MAX_COLUMNS:
        raise HistoryError(source, f"{len(header):,} columns, more than the {MAX_COLUMNS}"
                           " a history table may have")
    names = [f"c{i}" for i in range(len(header))]
    text_type = pa.string()
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, text_type),
                                                  strings_can_be_null=True,
                                                  null_values=["", "NULL"],
                                                  quoted_strings_can_be_null=True))
    except (pa.ArrowInvalid, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise HistoryError(source, f"cannot be read as CSV: {reason}") from None
    if table.num_rows > MAX_ROWS:
        raise HistoryError(source, f"{table.num_rows:,} rows, more than the {MAX_ROWS:,} a"
                           " history table may have")
    frame: pd.DataFrame = table.to_pandas()
    frame.columns = pd.RangeIndex(len(header))
    return header, frame


def _json(source: str, data: bytes) -> tuple[list[str], pd.DataFrame]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) < len(keys):
            twice = next(k for k in keys if keys.count(k) > 1)
            raise HistoryError(source, f"the field {excerpt(twice)} appears twice in one record")
        return dict(items)

    try:
        doc = json.loads(data.decode("utf-8"), parse_int=str, parse_float=str, parse_constant=str,
                         object_pairs_hook=pairs)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise HistoryError(source, f"not valid JSON: {str(exc)[:120]}") from None
    records = doc.get("value") if isinstance(doc, dict) else doc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise HistoryError(source, "JSON holds no table: expected a list of records or an"
                           " OData answer {\"value\": [...]}")
    if len(records) > MAX_ROWS:
        raise HistoryError(source, f"{len(records):,} records, more than the {MAX_ROWS:,} a"
                           " history table may have")
    header = list(dict.fromkeys(k for r in records for k in r))
    if len(header) > MAX_COLUMNS:
        raise HistoryError(source, f"{len(header):,} fields, more than {MAX_COLUMNS}")
    for i, record in enumerate(records):
        for key, value in record.items():
            if isinstance(value, (dict, list)):
                field = excerpt(key, quoted=False)
                raise HistoryError(source, f"record {i + 1}, field {field}: a nested value,"
                                   " not a cell")
    rows = ([_json_cell(r.get(k)) for k in header] for r in records)
    return header, _frame(header, rows)


def _json_cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# ---- xlsx -------------------------------------------------------------------------------------

def _workbook(source: str, data: bytes) -> Any:
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise HistoryError(source, "a damaged or truncated workbook (not a valid zip"
                           " file)") from None
    if any(m.flag_bits & 1 for m in members):
        raise HistoryError(source, "an encrypted workbook: save it without a password")
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED:
        raise HistoryError(source, f"the workbook unpacks to {unpacked:,} bytes, more than"
                           f" the {MAX_UNPACKED:,} a history workbook may have")
    for m in members:
        if m.file_size > 16 << 20 and m.file_size > _RATIO * max(m.compress_size, 1):
            raise HistoryError(source, f"the workbook's part {m.filename[:60]} unpacks"
                               f" {m.file_size // max(m.compress_size, 1):,} times its size:"
                               " refused as a zip bomb")
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:120]
        raise HistoryError(source, f"cannot be read as a workbook ({reason})") from None


def _sheet(source: str, sheet: Any) -> tuple[list[str], pd.DataFrame, np.ndarray] | None:
    """The header, cells and row numbers of one sheet (None when it is empty)."""
    try:
        rows_claimed, cols_claimed = sheet.max_row or 0, sheet.max_column or 0
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:120]
        raise HistoryError(source, f"cannot be read as a workbook ({reason})") from None
    if cols_claimed > MAX_COLUMNS or rows_claimed > MAX_ROWS + 1:
        raise HistoryError(source, f"the sheet claims {rows_claimed:,} rows and"
                           f" {cols_claimed:,} columns, more than the {MAX_ROWS:,} rows and"
                           f" {MAX_COLUMNS} columns a history table may have")
    width = min(cols_claimed or MAX_COLUMNS, MAX_COLUMNS)
    header: list[str] | None = None
    body: list[tuple[Any, ...]] = []
    numbers: list[int] = []
    gap = 0
    try:
        for number, row in enumerate(sheet.iter_rows(values_only=True, max_col=width,
                                                     max_row=MAX_ROWS + 2), start=1):
            if number > MAX_ROWS + 1:
                raise HistoryError(source, f"more than {MAX_ROWS:,} rows")
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                gap = gap or number
                continue
            if header is None:
                header = [_cell(v) or "" for v in row]
                while header and not header[-1]:
                    header.pop()
                continue
            if gap:
                raise HistoryError(source, f"row {gap} is empty but row {number} below it is"
                                   " not: a table has no empty rows")
            body.append(tuple(_cell(v) for v in row[:len(header)]))
            numbers.append(number)
    except HistoryError:
        raise
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:120]
        raise HistoryError(source, f"cannot be read as a workbook ({reason})") from None
    if header is None:
        return None
    padded = (r + (None,) * (len(header) - len(r)) for r in body)
    return header, _frame(header, padded), np.asarray(numbers, dtype=np.int64)


def _cell(value: Any) -> str | None:
    """A workbook or DataFrame cell as text: whole numbers without ``.0``, times in ISO."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer() and abs(number) < 2 ** 53:
            return str(int(number))
        return repr(number)
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A DataFrame's cells as text categoricals, as ``read_tables`` gives them."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            cats = [_cell(c) for c in values.cat.categories]
            lookup = np.array([*cats, None], dtype=object)
            out[column] = pd.Categorical(lookup[values.cat.codes.to_numpy()])
        else:
            out[column] = pd.Categorical([_cell(v) for v in values.astype(object)])
    return pd.DataFrame(out, index=range(len(frame)))


# ---- one file -------------------------------------------------------------------------------

def read_tables(path: Path, notes: list[str]) -> list[RawTable]:
    """The F&O tables in one CSV, JSON or xlsx file (sheets that are none are noted)."""
    source = str(path)
    data = _read_bytes(path)
    found: list[tuple[str, str, list[str], pd.DataFrame, np.ndarray]] = []
    if data.startswith(b"PK\x03\x04"):
        with warnings.catch_warnings():  # openpyxl warns of odd parts it then ignores
            warnings.simplefilter("ignore")
            book = _workbook(source, data)
            for sheet in book.worksheets:
                where = f"{source}[{sheet.title}]"
                read = _sheet(where, sheet)
                if read is None:
                    notes.append(f"{where}: an empty sheet; skipped")
                    continue
                found.append((where, str(sheet.title), *read))
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise HistoryError(source, "an encrypted workbook or an old .xls file: save it as"
                           " .xlsx without a password, or as CSV")
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        raise HistoryError(source, "not an xlsx workbook (a renamed file?)")
    else:
        data = _utf8(source, data, notes)
        is_json = re.match(rb"\s*[{\[]", data) is not None
        header, frame = (_json if is_json else _csv)(source, data)
        found.append((source, path.stem, header, frame,
                      np.arange(2, len(frame) + 2, dtype=np.int64)))
    tables = []
    for where, name, header, frame, rows in found:
        known = recognise(where, header)
        if known is None:
            shown = ", ".join(h[:40] for h in header[:8]) + (", ..." if len(header) > 8
                                                              else "")
            notes.append(f"{where}: not a batch table (columns: {shown or 'none'}); skipped")
            continue
        kind, spelling = known
        frame.columns = header
        frame = frame.loc[:, [h in spelling for h in header]]
        frame.columns = [spelling[h] for h in frame.columns]
        tables.append(RawTable(kind, where, frame.reset_index(drop=True), rows, name))
    return tables
