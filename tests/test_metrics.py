"""Where waits come from, utilization by hour, backlog, stranded capacity, deadlines."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import simbatch


def tiny() -> dict[str, Any]:
    # A runs group G only, B runs the default group only; both poll on the minute.
    # J1 (G): X and Y, 10 minutes each, ready at 00:00: X runs on A, Y waits for A.
    # J2 (default): Z, 5 minutes, due 00:00:20: B's next poll is 00:01:00.
    return {"start": "2026-01-05 00:00", "horizon": "1h", "polling": "1m",
            "scheduling": "affinity",
            "servers": {"A": {"threads": 1, "poll_offset": "0s"},
                        "B": {"threads": 1, "poll_offset": "0s"}},
            "groups": {"G": {"servers": ["A"]}, "default": {"servers": ["B"]}},
            "jobs": {"J1": {"group": "G", "tasks": {"X": {"duration": "10m"},
                                                    "Y": {"duration": "10m"}}},
                     "J2": {"start": "2026-01-05 00:00:20",
                            "tasks": {"Z": {"duration": "5m"}}}}}


def seconds(value: pd.Timedelta) -> float:
    return value.total_seconds()


def test_wait_breakdown_matches_a_hand_computed_case() -> None:
    rows = simbatch.simulate(tiny()).wait_breakdown().set_index("task")
    # Z waits 40 s for B's poll while B is free: all of it is waiting for a poll
    z = rows.loc["Z"]
    assert (seconds(z.wait), seconds(z.poll), seconds(z.capacity), seconds(z.stranded)) == (
        40, 40, 0, 0)
    # Y waits 10 minutes for A. B is idle for the first minute (stranded), busy with Z from
    # 00:01 to 00:06 (capacity: every thread busy), idle again after (stranded)
    y = rows.loc["Y"]
    assert (seconds(y.wait), seconds(y.held), seconds(y.poll), seconds(y.capacity),
            seconds(y.stranded)) == (600, 0, 0, 300, 300)
    assert seconds(rows.loc["X"].wait) == 0


def test_utilization_by_hour_matches_a_hand_computed_case() -> None:
    by_hour = simbatch.simulate(tiny()).utilization_by_hour().set_index("server")
    assert by_hour.loc["A", "busy_thread_seconds"] == 1200  # X then Y
    assert by_hour.loc["B", "busy_thread_seconds"] == 300  # Z
    assert (by_hour.available_thread_seconds == 3600).all()
    assert by_hour.loc["A", "utilization"] == pytest.approx(1 / 3)


def test_utilization_by_group() -> None:
    by_group = simbatch.simulate(tiny()).utilization_by_hour(by="group").set_index("group")
    # G may run on A only (1200 busy of 3600), the default group on B only (300 of 3600)
    assert by_group.loc["G", "utilization"] == pytest.approx(1 / 3)
    assert by_group.loc["default", "utilization"] == pytest.approx(300 / 3600)


def test_utilization_counts_overrunning_threads_as_available() -> None:
    # 4 threads until 01:00, then 1. Four 2-hour tasks start at 00:00 and are not cut:
    # from 01:00 to 02:00 the server has 4 threads running against a limit of 1.
    doc = {"start": "2026-01-05 00:00", "horizon": "4h", "polling": 0,
           "servers": {"A": {"threads": 1, "periods": [
               {"from": "00:00", "to": "01:00", "threads": 4}]}},
           "jobs": {"J": {"tasks": {f"T{i}": {"duration": "2h"} for i in range(4)}}}}
    util = simbatch.simulate(doc).utilization().iloc[0]
    assert util.busy_thread_seconds == 8 * 3600
    assert util.available_thread_seconds == (4 + 4 + 2) * 3600  # 1 + 3 overrunning threads
    assert util.utilization == pytest.approx(0.8)


def test_backlog_and_stranded_capacity_over_time() -> None:
    result = simbatch.simulate(tiny())
    backlog = result.backlog()
    g = backlog[backlog.group == "G"]
    assert g.waiting.tolist() == [1, 0]  # Y waits from 00:00 to 00:10: one row per change
    assert g.time.dt.strftime("%H:%M").tolist() == ["00:00", "00:10"]
    stranded = result.stranded_capacity().set_index("time").stranded_threads
    assert stranded.asof(pd.Timestamp("2026-01-05 00:00:10", tz="UTC")) == 1  # only Y waits
    assert stranded.asof(pd.Timestamp("2026-01-05 00:00:30", tz="UTC")) == 0  # Z waits for B
    assert stranded.asof(pd.Timestamp("2026-01-05 00:07", tz="UTC")) == 1  # B idle, Y waits
    assert stranded.asof(pd.Timestamp("2026-01-05 00:15", tz="UTC")) == 0  # nothing waits


def test_held_back_by_max_concurrency() -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": "1h", "polling": 0,
           "servers": {"A": {"threads": 4}},
           "groups": {"G": {"max_concurrency": 1}},
           "jobs": {"J": {"group": "G", "tasks": {"X": {"duration": "10m"},
                                                   "Y": {"duration": "10m"}}}}}
    y = simbatch.simulate(doc).wait_breakdown().set_index("task").loc["Y"]
    assert (seconds(y.wait), seconds(y.held), seconds(y.poll)) == (600, 600, 0)


def test_deadline_misses_match_a_hand_built_case() -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": "3d", "polling": 0,
           "servers": {"A": {"threads": 1}},
           "jobs": {"Nightly": {"start": "2026-01-05 22:00", "recurrence": {"every": "1d"},
                                "deadline": "06:00",
                                "tasks": {"Work": {"duration": {"empirical": ["7h", "9h"]}}}},
                    "Quick": {"start": "2026-01-05 01:00", "deadline": "30m",
                              "tasks": {"T": {"duration": "45m"}}}}}
    table = simbatch.simulate(doc, seed=1).deadlines()
    nightly = table[table.job == "Nightly"]
    # due 22:00, deadline 06:00 the next morning: 7 h meets it, 9 h misses by 1 h
    assert set(nightly.deadline.dt.strftime("%H:%M")) == {"06:00"}
    for row in nightly.itertuples():
        took = (row.end - row.scheduled) if pd.notna(row.end) else None
        if took == pd.Timedelta("7h"):
            assert row.met and row.lateness == pd.Timedelta("-1h")
        elif took == pd.Timedelta("9h"):
            assert not row.met and row.lateness == pd.Timedelta("1h")
    quick = table[table.job == "Quick"].iloc[0]
    assert (bool(quick.met), quick.lateness) == (False, pd.Timedelta("15m"))


def test_bad_deadline() -> None:
    doc = tiny()
    doc["jobs"]["J2"]["deadline"] = "25:00"
    with pytest.raises(simbatch.ScenarioError, match=r"jobs\.J2\.deadline: bad time of day"):
        simbatch.load(doc)
