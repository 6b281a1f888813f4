"""Hostile history files (issue 25): each is refused with one message naming the file (and
the row, column and value where there is one), by ``read_history`` and by the command line
with exit code 2 and no traceback; or, where the input is honest, read exactly."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import simbatch
from simbatch.cli.main import main
from simbatch.history import tables
from tests.test_history import JOBS, TASKS

Build = Callable[[Path], list[Path]]


def write(folder: Path, name: str, rows: list[dict[str, Any]], **options: Any) -> Path:
    path = folder / name
    pd.DataFrame(rows).to_csv(path, index=False, **options)
    return path


def jobs_with(**cell: Any) -> Build:
    """BatchJobHistory with one cell of its second row replaced, and the task runs."""
    return lambda d: [write(d, "jobs.csv", [JOBS[0], {**JOBS[1], **cell}]),
                      write(d, "tasks.csv", TASKS)]


def tasks_with(**cell: Any) -> Build:
    return lambda d: [write(d, "jobs.csv", JOBS),
                      write(d, "tasks.csv", [TASKS[0], {**TASKS[1], **cell}, *TASKS[2:]])]


def raw(name: str, data: bytes, *others: str) -> Build:
    def build(d: Path) -> list[Path]:
        (d / name).write_bytes(data)
        extra = {"jobs.csv": JOBS, "tasks.csv": TASKS}
        return [d / name, *(write(d, o, extra[o]) for o in others)]
    return build


def header_twice(second: str) -> Build:
    def build(d: Path) -> list[Path]:
        path = write(d, "jobs.csv", JOBS)
        path.write_text(path.read_text().replace("Company", second, 1))
        return [path, write(d, "tasks.csv", TASKS)]
    return build


def bomb_xlsx(d: Path) -> list[Path]:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(JOBS[0]))
    sheet["XFD1048576"] = 1
    book.save(d / "bomb.xlsx")
    return [d / "bomb.xlsx"]


def truncated_xlsx(d: Path) -> list[Path]:
    bomb_xlsx(d)
    data = (d / "bomb.xlsx").read_bytes()
    (d / "cut.xlsx").write_bytes(data[: len(data) // 2])
    return [d / "cut.xlsx"]


def not_a_workbook_zip(d: Path) -> list[Path]:
    with zipfile.ZipFile(d / "other.xlsx", "w") as archive:
        archive.writestr("readme.txt", "hello")
    return [d / "other.xlsx"]


ISO = "not a date and time in ISO form such as 2026-01-05 22:00:00 (or give --date-format)"
WHOLE = "not a whole number (digits only)"
RETRIES = "not a whole number from 0 to 100 (digits only)"
CASES: list[tuple[str, Build, str]] = [
    *((f"id {v}", jobs_with(RecId=v), f"jobs.csv: row 3, column RecId: {WHOLE}: {v!r}")
      for v in ["1.0", "+5", "0x10", "-3", "99999999999999999999", "1e3"]),
    *((f"time {v}", jobs_with(OrigStartDateTime=v),
       f"jobs.csv: row 3, column OrigStartDateTime: {ISO}: {v!r}")
      for v in ["now", "today", "07:00", "2026", "01/26/2026", "26/01/2026", "NaN", "inf",
                "2026-02-30 10:00:00"]),
    *((f"far {v}", jobs_with(OrigStartDateTime=v),
       f"jobs.csv: row 3, column OrigStartDateTime: a date outside the years 1678 to 2261,"
       " which cannot be held (of such dates only 0001-01-01, 1753-01-01 and 9999-12-31 are"
       f" read, as no time): {v!r}") for v in ["1677-09-21", "2262-04-12 00:00:00",
                                               "0002-01-01"]),
    *((f"retries {v}", tasks_with(retryCount=v),
       f"tasks.csv: row 3, column retryCount: {RETRIES}: {v!r}")
      for v in ["1E+18", "inf", "NaN", "-1", "127", "2.5"]),
    ("a time far from the others", jobs_with(OrigStartDateTime="1970-01-01 00:00:00"),
     "jobs.csv: row 3, column OrigStartDateTime: 1970-01-01 00:00:00 (UTC) is more than 366"
     " days from the history's other times: far outside its period"),
    ("a task time far from its jobs'", tasks_with(EndDateTime="2261-12-31 00:00:00"),
     "tasks.csv: row 3, column EndDateTime: 2261-12-31 00:00:00 (UTC) is more than 366 days"
     " from the history's other times: far outside its period"),
    ("status as a repr", tasks_with(Status="np.int64(3)"),
     "tasks.csv: row 3, column Status: unknown status 'np.int64(3)' (labels or numbers:"
     " 0 Withhold, 1 Waiting, 2 Executing, 3 Error, 4 Ended, 5 Ready, 6 Didn't run,"
     " 7 Canceling, 8 Canceled, 9 Scheduled)"),
    ("runtime flag", tasks_with(RuntimeTask="maybe"),
     "tasks.csv: row 3, column RuntimeTask: expected Yes/No or 1/0, got 'maybe'"),
    ("an end before its start", jobs_with(EndDateTime="2026-01-06 21:00:00"),
     "jobs.csv: row 3, column EndDateTime: ends at 2026-01-06 21:00:00, before its start"
     " 2026-01-06 22:00:30 (UTC)"),
    ("a duplicated header", header_twice("Caption"),
     "jobs.csv: the column 'Caption' appears twice (columns 3 and 8); a table holds each"
     " column once"),
    ("a duplicated header, case aside", header_twice("CAPTION"),
     "jobs.csv: the column 'CAPTION' appears twice (columns 3 and 8); a table holds each"
     " column once"),
    ("binary", raw("jobs.csv", b"RecId,BatchJobId\x00\x01\x02\n"),
     "jobs.csv: holds binary data (NUL bytes), not text: save it as CSV (UTF-8 or UTF-16 with"
     " a byte-order mark) or as xlsx"),
    ("a broken UTF-16", raw("jobs.csv", b"\xff\xfeR\x00e\x00\x00\xd8"),
     "jobs.csv: its byte-order mark says utf-16-le but byte 6 is not: the file is damaged"),
    ("a ragged CSV", raw("jobs.csv", b"RecId,BatchJobId\n1,2,3\n"),
     "jobs.csv: cannot be read as CSV: CSV parse error: Expected 2 columns, got 3: 1,2,3"),
    ("an empty file", raw("jobs.csv", b" \n"), "jobs.csv: the file is empty"),
    ("a header alone", raw("jobs.csv", b"RecId,BatchJobId,Status,OrigStartDateTime,"
                           b"StartDateTime,EndDateTime\r\n", "tasks.csv"),
     "jobs.csv: the BatchJobHistory table has no rows: no job run to read"),
    ("a huge dimension", bomb_xlsx,
     "bomb.xlsx[Sheet]: the sheet claims 1,048,576 rows and 16,384 columns, more than the"
     " 5,000,000 rows and 512 columns a history table may have"),
    ("a truncated workbook", truncated_xlsx,
     "cut.xlsx: a damaged or truncated workbook (not a valid zip file)"),
    ("an encrypted workbook", raw("secret.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)),
     "secret.xlsx: an encrypted workbook or an old .xls file: save it as .xlsx without a"
     " password, or as CSV"),
    ("a renamed CSV", raw("renamed.xlsx", b"RecId,BatchJobId\n1,2\n"),
     "renamed.xlsx: not an xlsx workbook (a renamed file?)"),
    ("a zip that is no workbook", not_a_workbook_zip,
     "other.xlsx: cannot be read as a workbook (KeyError: \"There is no item named"
     " '[Content_Types].xml' in the archive\")"),
    ("JSON with a key twice", raw("h.json", b'{"value": [{"RecId": 1, "RecId": 2}]}'),
     "h.json: the field 'RecId' appears twice in one record"),
    ("JSON nested", raw("h.json", b'{"value": [{"RecId": {"x": 1}}]}'),
     "h.json: record 1, field RecId: a nested value, not a cell"),
    ("JSON deep", raw("h.json", b"[" * 100_000),
     "h.json: not valid JSON: maximum recursion depth exceeded while decoding a JSON array"
     " from a unicode string"),
    ("JSON of no table", raw("h.json", b'{"value": 3}'),
     "h.json: JSON holds no table: expected a list of records or an OData answer"
     " {\"value\": [...]}"),
]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_refusal_is_one_message(tmp_path: Path, build: Build, expected: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    paths = build(tmp_path)
    with pytest.raises(simbatch.HistoryError) as caught:
        simbatch.read_history(*paths)
    assert str(caught.value).replace(f"{tmp_path}/", "") == expected
    assert main(["calibrate", *map(str, paths), "--out", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.replace(f"{tmp_path}/", "") == f"HistoryError: {expected}\n"
    assert not (tmp_path / "s.yaml").exists()


def test_special_files_are_refused_before_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.csv")
    for path, what in ((tmp_path / "pipe.csv", "a device, pipe or socket"),
                       (Path("/dev/zero"), "a device, pipe or socket"), (tmp_path, "a folder")):
        with pytest.raises(simbatch.HistoryError) as caught:
            simbatch.read_history(path)
        assert str(caught.value) == f"{path}: is {what}, not a file"


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--times-in", "Mars/Base", "UsageError: times_in: not an IANA time zone: 'Mars/Base'"),
    ("--date-format", "%H:%M", "UsageError: date_format: give a strptime format with a day"
     " and a year, such as %d/%m/%Y %H:%M, got '%H:%M'"),
    ("--fo-version", "ten", "UsageError: fo_version: expected a version such as 10.0.39, got"
     " 'ten'"),
    ("--priority-codes", "1=urgent", "UsageError: priority_codes: expected whole numbers mapped"
     " to one of low, normal, high, critical, reserved, got '1': 'urgent'"),
    ("--priority-codes", "x", "UsageError: --priority-codes: expected N=LABEL pairs separated"
     " by commas, such as 3=critical, got 'x'"),
])
def test_bad_reading_options(tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str,
                             value: str, expected: str) -> None:
    paths = [write(tmp_path, "jobs.csv", JOBS), write(tmp_path, "tasks.csv", TASKS)]
    for command in (["calibrate", "--out", str(tmp_path / "s.yaml")],
                    ["backtest", "--topology", "examples/small-tenant.yaml"]):
        assert main([*command, *map(str, paths), option, value]) == 2
        assert capsys.readouterr().err == expected + "\n"


def test_ids_are_exact_integers(tmp_path: Path) -> None:
    jobs = [{**JOBS[0], "RecId": 9007199254740992}, {**JOBS[1], "RecId": 9007199254740993}]
    tasks = [{**t, "BatchJobHistoryId": 9007199254740992 if t["BatchJobHistoryId"] == 101
              else 9007199254740993} for t in TASKS]
    history = simbatch.read_history(write(tmp_path, "j.csv", jobs),
                                    write(tmp_path, "t.csv", tasks))
    assert history.jobs.run_id.tolist() == [9007199254740992, 9007199254740993]
    assert history.tasks.run_id.tolist()[2] == 9007199254740993


@pytest.mark.parametrize("value", ["0001-01-01", "1753-01-01 00:00:00", "9999-12-31 23:59:59",
                                   "1900-01-01 00:00:00", "2154-12-31"])
def test_sentinel_dates_mean_no_time(tmp_path: Path, value: str) -> None:
    history = simbatch.read_history(*jobs_with(OrigStartDateTime=value)(tmp_path))
    assert history.jobs.scheduled.isna().tolist() == [False, True]


def test_a_stated_date_format_reads_day_first(tmp_path: Path) -> None:
    def day_first(text: str) -> str:
        stamp = pd.Timestamp(text)
        stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
        return stamp.strftime("%d/%m/%Y %H:%M:%S")

    jobs = [{**j, **{c: day_first(j[c]) for c in ("OrigStartDateTime", "StartDateTime",
                                                  "EndDateTime")}} for j in JOBS]
    tasks = [{**t, **{c: day_first(t[c]) if t[c] else "" for c in ("StartDateTime",
                                                                    "EndDateTime")}}
             for t in TASKS]
    history = simbatch.read_history(write(tmp_path, "j.csv", jobs),
                                    write(tmp_path, "t.csv", tasks),
                                    date_format="%d/%m/%Y %H:%M:%S")
    assert history.jobs.scheduled.tolist() == [pd.Timestamp("2026-01-05 22:00", tz="UTC"),
                                               pd.Timestamp("2026-01-06 22:00", tz="UTC")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    jobs = [{**JOBS[0], "Caption": "Facturación €" if encoding == "cp1252" else "Facturación"},
            JOBS[1]]
    history = simbatch.read_history(write(tmp_path, "j.csv", jobs, encoding=encoding),
                                    write(tmp_path, "t.csv", TASKS))
    assert history.jobs.job.astype(str).tolist()[0] == jobs[0]["Caption"]
    assert history.tasks.job.astype(str).tolist()[:2] == [jobs[0]["Caption"]] * 2
    noted = any("not UTF-8; read as cp1252" in n for n in history.notes)
    assert noted == (encoding in ("latin-1", "cp1252"))


def test_a_table_split_over_files_is_kept_whole(tmp_path: Path) -> None:
    second = [{k: v for k, v in r.items() if k != "ServerId"} for r in TASKS[2:]]
    history = simbatch.read_history(write(tmp_path, "jobs.csv", JOBS),
                                    write(tmp_path, "t1.csv", TASKS[:2]),
                                    write(tmp_path, "t2.csv", second))
    assert history.tasks.server.astype(object).tolist()[:2] == ["AOS1", "AOS2"]
    assert history.tasks.server.isna().tolist() == [False, False, True, True]
    assert (f"{tmp_path}/t2.csv has no ServerId column, unlike the other BatchHistory files:"
            " empty in its 2 rows") in history.notes


def test_guarded_text_cells_read_back(tmp_path: Path) -> None:
    jobs = [{**JOBS[0], "Caption": "'=SUM(A1)"}, {**JOBS[1], "Caption": "'=SUM(A1)"}]
    history = simbatch.read_history(write(tmp_path, "j.csv", jobs),
                                    write(tmp_path, "t.csv", TASKS))
    assert history.jobs.job.astype(str).tolist() == ["=SUM(A1)"] * 2


def test_formula_cells_are_read_as_their_values(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(JOBS[0]))
    for row in JOBS:
        sheet.append([("=2*2" if k == "Status" else v) for k, v in row.items()])
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(tmp_path / "f.xlsx", "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("sheet1.xml"):  # the value Excel computed and saved
                data = data.replace(b"<f>2*2</f><v />", b"<f>2*2</f><v>4</v>")
            out.writestr(item, data)
    history = simbatch.read_history(tmp_path / "f.xlsx", write(tmp_path, "t.csv", TASKS))
    assert history.jobs.status.tolist() == ["Ended", "Ended"]


def test_size_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [write(tmp_path, "jobs.csv", JOBS), write(tmp_path, "tasks.csv", TASKS)]
    monkeypatch.setattr(tables, "MAX_BYTES", 300)
    with pytest.raises(simbatch.HistoryError, match=r"tasks.csv: the file is more than 300"
                       r" bytes, the most a history file may have"):
        simbatch.read_history(*paths)
    monkeypatch.setattr(tables, "MAX_BYTES", 1 << 20)
    monkeypatch.setattr(tables, "MAX_ROWS", 3)
    with pytest.raises(simbatch.HistoryError, match=r"tasks.csv: 4 rows, more than the 3 a"
                       " history table may have"):
        simbatch.read_history(*paths)
    monkeypatch.setattr(tables, "MAX_ROWS", 1_000)
    monkeypatch.setattr(tables, "MAX_UNPACKED", 2_000)
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Caption"])
    sheet.append(["x" * 50_000])
    book.save(tmp_path / "big.xlsx")
    with pytest.raises(simbatch.HistoryError, match=r"big.xlsx: the workbook unpacks to"
                       r" [\d,]+ bytes, more than the 2,000 a history workbook may have"):
        simbatch.read_history(tmp_path / "big.xlsx")


def test_a_cycle_of_dependencies_is_refused(tmp_path: Path) -> None:
    cycle = [{"BatchId": 11, "DependsOnBatchId": 12, "ExpectedStatus": 4},
             {"BatchId": 12, "DependsOnBatchId": 11, "ExpectedStatus": 4}]
    paths = [write(tmp_path, "jobs.csv", JOBS), write(tmp_path, "tasks.csv", TASKS),
             write(tmp_path, "deps.csv", cycle)]
    with pytest.raises(simbatch.HistoryError) as caught:
        simbatch.read_history(*paths)
    assert str(caught.value) == (
        f"{tmp_path}/deps.csv: row 2, column DependsOnBatchId: a cycle of dependencies (task"
        " ids 11 -> 12 -> 11, each waiting for the next): '12'")


def test_ten_thousand_chained_dependencies_are_read() -> None:
    n = 10_000
    chain = pd.DataFrame({"BatchId": range(2, n + 2), "DependsOnBatchId": range(1, n + 1),
                          "ExpectedStatus": [4] * n})
    history = simbatch.History.from_tables(pd.DataFrame(JOBS), pd.DataFrame(TASKS),
                                           constraints=chain)
    assert len(history.constraints) == n and history.constraints_source == "BatchConstraints"


def test_a_zip_bomb_part_is_refused_before_unpacking(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(
            tmp_path / "bomb.xlsx", "w", compression=zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            out.writestr(item.filename, source.read(item.filename))
        out.writestr("xl/sharedStrings.xml", b"\0" * (20 << 20))  # 20 MB packed to ~20 KB
    with pytest.raises(simbatch.HistoryError) as caught:
        simbatch.read_history(tmp_path / "bomb.xlsx")
    assert str(caught.value).startswith(f"{tmp_path}/bomb.xlsx: the workbook's part"
                                        " xl/sharedStrings.xml unpacks ")
    assert str(caught.value).endswith(" times its size: refused as a zip bomb")
