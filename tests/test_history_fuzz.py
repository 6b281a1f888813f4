"""Mutation fuzzing of history files: the bundled export (examples/fo-export) with columns
dropped, duplicated and renamed, hostile cells, truncated bytes, other encodings and ragged
rows, through ``read_history``; and a workbook of it with parts' bytes changed, cut or
dropped (the xlsx reader and its zip bomb and dimension bounds).

Every outcome must be a ``History`` or a ``HistoryError``; anything else is a bug. A few
dozen examples run in the default suite; 2,000 under the ``fuzz`` marker.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simbatch
from tests.conftest import ROOT

EXPORT = ROOT / "examples" / "fo-export"
ROWS = 40  # of each file: a short history keeps each example quick


def _table(name: str) -> list[list[str]]:
    with open(EXPORT / name, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))[: ROWS + 1]


BASES = {name: _table(name) for name in ("BatchJobHistory.csv", "BatchHistory.csv")}
CELLS = ["", " ", "NaN", "inf", "-inf", "-1", "1.0", "+5", "0x10", "1E+18", "127",
         "9223372036854775808", "9007199254740993", "now", "today", "07:00", "2026",
         "01/26/2026", "26/01/2026", "0001-01-01", "9999-12-31", "1677-09-21", "2262-04-12",
         "1900-01-01", "2154-12-31", "2026-02-30 10:00:00", "2026-01-05T22:00:00+14:00",
         "Facturación", "=1+1", "'=cmd", "<script>", "\x00", "ä✓" * 50, "Finito", "NULL",
         "np.int64(3)", "Yes", "true", "4", "250", "x" * 5000]
HEADERS = ["", "RecId", "recid", "Caption", "CAPTION", "BatchId", "Status", "GroupId",
           "DependsOnBatchId", "OrigStartDateTime", "JobDescription", "BatchGroup"]


@st.composite
def mutants(draw: st.DrawFn) -> dict[str, bytes]:
    """The two files, each mutated a few times, as bytes."""
    out = {}
    for name, base in BASES.items():
        rows = [list(r) for r in base]
        for _ in range(draw(st.integers(0, 3))):
            width = len(rows[0])
            kind = draw(st.sampled_from(["cell", "drop", "twice", "rename", "row", "ragged",
                                         "swap"]))
            column = draw(st.integers(0, width - 1))
            if kind == "cell" and len(rows) > 1:
                row = draw(st.integers(1, len(rows) - 1))
                if column < len(rows[row]):
                    rows[row][column] = draw(st.sampled_from(CELLS) | st.text(max_size=20))
            elif kind == "drop" and width > 1:
                rows = [r[:column] + r[column + 1:] for r in rows]
            elif kind == "twice":
                rows = [[*r, r[column] if column < len(r) else ""] for r in rows]
            elif kind == "rename":
                rows[0][column] = draw(st.sampled_from(HEADERS) | st.text(max_size=12))
            elif kind == "row" and len(rows) > 1:
                rows.append(list(rows[draw(st.integers(1, len(rows) - 1))]))
            elif kind == "ragged":
                rows.append(["1"] * draw(st.integers(1, width + 2)))
            elif kind == "swap" and len(rows) > 2:
                rows[1], rows[-1] = rows[-1], rows[1]
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        data = buffer.getvalue().encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"])),
                                        "replace")
        if draw(st.booleans()) and draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
        out[name] = data
    return out


def check(tmp_path: Path, files: dict[str, bytes]) -> None:
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    try:
        history = simbatch.read_history(*paths)
    except simbatch.HistoryError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1500
        return
    assert len(history.jobs) > 0
    assert str(history.jobs["start"].dt.tz) == "UTC"
    assert history.tasks["run_id"].isin(history.jobs["run_id"]).all()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutants())
def test_mutated_exports_read_or_are_refused(tmp_path: Path, files: dict[str, bytes]) -> None:
    check(tmp_path, files)


@pytest.mark.fuzz
@settings(max_examples=2000, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutants())
def test_many_mutated_exports(tmp_path: Path, files: dict[str, bytes]) -> None:
    check(tmp_path, files)


def _workbook_parts() -> dict[str, bytes]:
    """The parts of a workbook holding the bundled export's first rows, one sheet each."""
    import zipfile

    from openpyxl import Workbook

    book = Workbook()
    first = True
    for name, rows in BASES.items():
        sheet = book.active if first else book.create_sheet()
        assert sheet is not None
        sheet.title = name[:-4]
        first = False
        for row in rows[:10]:
            sheet.append([int(v) if v.isdigit() else v for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {i.filename: archive.read(i.filename) for i in archive.infolist()}


PARTS = _workbook_parts()
INSERTS = [b"<", b">", b'"', b"999999999", b"XFD1048576", b"<v>", b"</c>", b"&amp;",
           b'<dimension ref="A1:XFD1048576"/>', b"<f>1/0</f>"]


@st.composite
def workbooks(draw: st.DrawFn) -> bytes:
    """The workbook with a few of its parts' bytes changed, cut or dropped."""
    import zipfile

    parts = dict(PARTS)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(parts)))
        data = bytearray(parts[name])
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["byte", "cut", "insert", "drop"]))
        if kind == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 60))]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(INSERTS))
        elif kind == "drop" and len(parts) > 1:
            del parts[name]
            continue
        parts[name] = bytes(data)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    raw = out.getvalue()
    return raw[: draw(st.integers(0, len(raw)))] if draw(st.booleans()) and draw(
        st.booleans()) else raw


def check_workbook(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "export.xlsx").write_bytes(data)
    try:
        simbatch.read_history(tmp_path / "export.xlsx")
    except simbatch.HistoryError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(workbooks())
def test_mutated_workbooks_read_or_are_refused(tmp_path: Path, data: bytes) -> None:
    check_workbook(tmp_path, data)


@pytest.mark.fuzz
@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(workbooks())
def test_many_mutated_workbooks(tmp_path: Path, data: bytes) -> None:
    check_workbook(tmp_path, data)
