"""Text cells a spreadsheet would run as a formula are written as text, and read back."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import simbatch
from simbatch.cli.main import main
from simbatch.results.cells import FORMULA_STARTS, guard, guard_frame, unguard


@pytest.mark.parametrize(("text", "written"), [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("+1", "'+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("'quoted", "''quoted"),  # an apostrophe of its own is kept: unguard is exact
    ("''", "'''"),
    ("Nightly planning", "Nightly planning"),
    ("a=b", "a=b"),
    (" =x", " =x"),
    ("", ""),
])
def test_guard_and_unguard_exact_cases(text: str, written: str) -> None:
    assert guard(text) == written
    assert unguard(written) == text


@given(st.text())
def test_unguard_reads_back_what_guard_wrote(text: str) -> None:
    written = guard(text)
    assert unguard(written) == text
    assert not written.startswith(FORMULA_STARTS)
    assert written == text or written == "'" + text


def test_guard_frame_guards_text_and_never_numbers() -> None:
    frame = pd.DataFrame({
        "int": [-3, 4],
        "float": [-2.5, float("nan")],
        "nullable": pd.array([-1, None], dtype="Int64"),
        "time": pd.to_datetime(["2026-01-05 00:00", None]).tz_localize("UTC"),
        "span": pd.to_timedelta([-60, 5], unit="s"),
        "object": pd.Series(["=cmd", None], dtype=object),
        "str": ["=cmd", None],  # pandas' default text dtype
        "category": pd.Categorical(["+x", "plain"]),
        "string": pd.array(["@y", pd.NA], dtype="string"),
        "mixed": ["-z", 7],
    })
    out = guard_frame(frame)
    assert out["int"].tolist() == [-3, 4] and out["int"].dtype == "int64"
    assert out["float"].iloc[0] == -2.5 and pd.isna(out["float"].iloc[1])
    assert out["nullable"].iloc[0] == -1 and out["nullable"].dtype == "Int64"
    pd.testing.assert_series_equal(out["time"], frame["time"])
    pd.testing.assert_series_equal(out["span"], frame["span"])
    assert out["object"].tolist() == ["'=cmd", None] and out["object"].dtype == object
    assert out["str"].iloc[0] == "'=cmd" and pd.isna(out["str"].iloc[1])
    assert out["str"].dtype == frame["str"].dtype
    assert out["category"].tolist() == ["'+x", "plain"] and out["category"].dtype == "category"
    assert out["string"].iloc[0] == "'@y" and out["string"].iloc[1] is pd.NA
    assert out["mixed"].tolist() == ["'-z", 7]
    assert frame["object"].tolist() == ["=cmd", None]  # the input is left alone
    assert list(out.columns) == list(frame.columns)


def test_guard_frame_keeps_the_shape_of_any_frame() -> None:
    twice = pd.DataFrame([["=a", "b"]], columns=["Caption", "Caption"], index=[7])
    out = guard_frame(twice)
    assert out.values.tolist() == [["'=a", "b"]] and list(out.index) == [7]
    assert list(out.columns) == ["Caption", "Caption"]
    assert guard_frame(pd.DataFrame()).shape == (0, 0)
    empty = guard_frame(pd.DataFrame({"c": pd.Categorical([])}))
    assert empty.shape == (0, 1) and empty["c"].dtype == "category"


HOSTILE: dict[str, Any] = {
    "start": "2026-01-05 00:00", "horizon": "1h", "polling": 0, "scheduling": "priority",
    "servers": {"@srv": {"threads": 1}}, "groups": {"-grp": {}},
    "jobs": {"=cmd": {"group": "-grp", "tasks": {"+task": {"duration": "5m"}}},
             "plain": {"tasks": {"T": {"duration": "5m"}}}}}
"""A job, a group, a task and a server whose names a spreadsheet would run."""


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_csv_written_by_run_shows_formulas_as_text(tmp_path: Path) -> None:
    import yaml

    scenario = tmp_path / "hostile.yaml"
    scenario.write_text(yaml.safe_dump(HOSTILE), encoding="utf-8")
    assert main(["run", str(scenario), "--out", str(tmp_path / "out")]) == 0
    tasks = rows(tmp_path / "out" / "tasks.csv")
    assert [(r["job"], r["task"], r["group"], r["server"]) for r in tasks] == [
        ("'=cmd", "'+task", "'-grp", "'@srv"), ("plain", "T", "default", "'@srv")]
    assert [r["wait"] for r in tasks] == ["0.0", "300.0"]  # numbers are numbers
    jobs = rows(tmp_path / "out" / "jobs.csv")
    assert [r["job"] for r in jobs] == ["'=cmd", "plain"]


def test_the_fo_export_shows_formulas_as_text(tmp_path: Path) -> None:
    result = simbatch.simulate(HOSTILE)
    files = {p.stem: p for p in simbatch.write_fo_history(result, tmp_path)}
    assert [r["Caption"] for r in rows(files["BatchJobHistory"])] == ["'=cmd", "plain"]
    assert [(r["Caption"], r["ServerId"]) for r in rows(files["BatchHistory"])] == [
        ("'+task", "'@srv"), ("T", "'@srv")]
    assert [r["GroupId"] for r in rows(files["Batch"])] == ["'-grp", ""]  # default: empty
    # and the reader takes the apostrophe back off: the names are the scenario's own
    history = simbatch.read_history(*files.values())
    assert sorted(map(str, history.jobs.job)) == ["=cmd", "plain"]
    assert sorted(map(str, history.tasks.server)) == ["@srv", "@srv"]


def test_the_sweep_table_shows_formulas_as_text(tmp_path: Path) -> None:
    import yaml

    scenario = tmp_path / "hostile.yaml"
    scenario.write_text(yaml.safe_dump(HOSTILE), encoding="utf-8")
    out = tmp_path / "sweep.csv"
    assert main(["sweep", str(scenario), "--grid", "name==x,plain",
                 "--metrics", "wait_mean_s", "--out", str(out)]) == 0
    table = rows(out)
    assert [r["name"] for r in table] == ["'=x", "plain"]
