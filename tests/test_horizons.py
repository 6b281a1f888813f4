"""Calendar horizons (``end:``), Python times in scenario dicts, and likely-mistake warnings."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import simbatch
from simbatch.cli.main import main


def base(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"start": "2026-03-16 08:00", "timezone": "Europe/Amsterdam",
                           "horizon": "1d", "polling": "1m", "scheduling": "priority",
                           "servers": {"A": {"threads": 2}},
                           "jobs": {"J": {"tasks": {"T": {"duration": "5m"}}}}}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def test_end_is_a_local_time_across_a_dst_change() -> None:
    # two weeks up to Monday 08:00; the clocks go forward on 29 March, so it is an hour short
    scenario = simbatch.load(base(horizon=None, end="2026-03-30 08:00"))
    assert scenario.horizon == (14 * 24 - 1) * 3600 * 10**9
    assert scenario.end == dt.datetime(2026, 3, 30, 8, 0,
                                       tzinfo=scenario.zone).astimezone(scenario.zone)
    assert f"{scenario.end:%Y-%m-%d %H:%M %z}" == "2026-03-30 08:00 +0200"


def test_exactly_one_of_horizon_and_end() -> None:
    with pytest.raises(simbatch.ScenarioError, match=r"end: give horizon: \(elapsed time\)"
                                                     r" or end: .*, not both"):
        simbatch.load(base(end="2026-03-17 08:00"))
    with pytest.raises(simbatch.ScenarioError, match=r"missing required key 'horizon' .* or"
                                                     " give end:"):
        simbatch.load(base(horizon=None))
    with pytest.raises(simbatch.ScenarioError, match=r"end: end '2026-03-16 07:00' is not"
                                                     " after the start"):
        simbatch.load(base(horizon=None, end="2026-03-16 07:00"))


def test_python_datetime_and_timedelta_values() -> None:
    doc = base(start=dt.datetime(2026, 3, 16, 8, 0), horizon=dt.timedelta(days=1),
               polling=pd.Timedelta("30s"))
    doc["servers"]["A"]["periods"] = [{"from": dt.time(20, 0), "to": dt.time(6, 0),
                                       "threads": 4}]
    doc["jobs"]["J"].update({"start": pd.Timestamp("2026-03-16 22:00"),
                             "deadline": dt.timedelta(hours=1, microseconds=5),
                             "tasks": {"T": {"duration": {"uniform": [dt.timedelta(minutes=1),
                                                                      "2m"]}}}})
    scenario = simbatch.load(doc)
    written = simbatch.load(base(polling="30s") | {
        "servers": {"A": {"threads": 2, "periods": [{"from": "20:00", "to": "06:00",
                                                     "threads": 4}]}},
        "jobs": {"J": {"start": "2026-03-16 22:00", "deadline": "3600.000005s",
                       "tasks": {"T": {"duration": {"uniform": ["1m", "2m"]}}}}}})
    assert scenario == written
    assert scenario.jobs[0].deadline is not None
    assert scenario.jobs[0].deadline.within == 3600 * 10**9 + 5000


def test_end_accepts_a_python_datetime_with_a_zone() -> None:
    end = dt.datetime(2026, 3, 17, 7, 0, tzinfo=dt.UTC)  # 08:00 in Amsterdam
    assert simbatch.load(base(horizon=None, end=end)).horizon == 24 * 3600 * 10**9


def caught(doc: dict[str, Any]) -> list[str]:
    with warnings.catch_warnings(record=True) as found:
        warnings.simplefilter("always", simbatch.SimbatchWarning)
        simbatch.load(doc)
    return [str(w.message) for w in found]


def test_threads_the_periods_never_use() -> None:
    doc = base()
    doc["servers"]["A"]["periods"] = [{"from": "08:00", "to": "18:00", "threads": 2},
                                      {"from": "18:00", "to": "08:00", "threads": 6}]
    assert caught(doc) == ["<scenario>: servers.A.threads: threads: 2 is never used: the"
                           " periods cover the whole day; remove it, or shorten a period"]
    doc["servers"]["A"] = {"periods": doc["servers"]["A"]["periods"]}  # not written: fine
    assert caught(doc) == []
    doc["servers"]["A"]["threads"] = 4
    doc["servers"]["A"]["periods"] = doc["servers"]["A"]["periods"][:1]
    assert caught(doc) == []


def test_slow_polling_warns() -> None:
    assert caught(base(polling="6m")) == [
        "<scenario>: polling: polling every 6m is far slower than F&O's one minute; idle"
        " servers will leave work waiting that long"]
    assert caught(base(polling="5m")) == []


@pytest.mark.parametrize("recurrence", [{"cron": "0 3 * * 6"}, {"every": "1w", "on": "sat"}])
def test_recurrence_whose_first_slot_is_after_the_horizon(recurrence: dict[str, Any]) -> None:
    doc = base()
    doc["jobs"]["J"]["recurrence"] = recurrence  # Monday start, 1 day: Saturday never comes
    [message] = caught(doc)
    assert message.startswith("<scenario>: jobs.J.recurrence: the ")
    assert "first slot falls after the horizon (2026-03-17 08:00)" in message
    doc["horizon"] = "1w"
    assert caught(doc) == []


def test_cli_prints_warnings_and_exits_0(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text("start: 2026-03-16 08:00\nend: 2026-03-17 08:00\npolling: 10m\n"
                    "scheduling: priority\nservers: {A: {threads: 2}}\n"
                    "jobs: {J: {tasks: {T: {duration: 5m}}}}\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.strip() == (f"SimbatchWarning: {path}: polling: polling every 10m is far slower"
                           " than F&O's one minute; idle servers will leave work waiting that"
                           " long (line 3)")
