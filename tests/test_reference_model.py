"""The independent reference model (tests/reference_model.py): exact hand-checked logs of
the reference itself, and a differential test of simbatch against it on random small
scenarios (one group, FIFO polling, constant durations, deterministic failures)."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

import simbatch
from tests import reference_model as ref

ROOT = Path(__file__).resolve().parent.parent
START = pd.Timestamp("2026-01-05 22:00")
Log = list[tuple[Any, ...]]


def clock(value: int | None) -> str | None:
    """Seconds from 22:00 as HH:MM:SS."""
    if value is None:
        return None
    return (START + pd.Timedelta(seconds=value)).strftime("%H:%M:%S")


def ref_log(doc: dict[str, Any]) -> Log:
    """(job, task, attempt, status, server, ready, start, end) of the reference's rows."""
    return [(r.job, r.task, r.attempt, r.status, r.server, clock(r.ready), clock(r.start),
             clock(r.end)) for r in ref.simulate(doc)]


def rows(table: pd.DataFrame) -> Log:
    """A tasks table as comparable tuples: plain strings, None for NA, times as they are."""
    out = []
    for record in table[ref.COLUMNS].astype(object).itertuples(index=False):
        out.append(tuple(None if pd.isna(v) else v for v in record))
    return out


def simbatch_rows(doc: dict[str, Any]) -> Log:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", simbatch.SimbatchWarning)
        return rows(simbatch.simulate(doc, seed=0).tasks)


def reference_rows(doc: dict[str, Any]) -> Log:
    return rows(ref.frame(ref.simulate(doc), doc))


# ---- (a) the reference's own exact logs --------------------------------------------------------

def walkthrough(**task2: Any) -> dict[str, Any]:
    doc: dict[str, Any] = YAML(typ="safe", pure=True).load(
        (ROOT / "scenarios/walkthrough.yaml").read_text(encoding="utf-8"))
    doc["start"] = "2026-01-05 22:00"  # the loader may read these as datetimes: give text
    doc["jobs"]["JOB 1"]["start"] = "2026-01-05 22:00"
    doc["jobs"]["JOB 1"]["tasks"]["TASK 2"].update(task2)
    return doc


def test_walkthrough_ended_branch() -> None:
    # Batch1 polls on the minute, Batch2 on the half minute. TASK 3 and TASK 4 are ready at
    # 22:15; Batch1's freed thread takes TASK 3 (file order), TASK 4 waits for Batch2's poll.
    assert ref_log(walkthrough()) == [
        ("JOB 1", "TASK 1", 1, "Ended", "Batch1", "22:00:00", "22:00:00", "22:10:00"),
        ("JOB 1", "TASK 2", 1, "Ended", "Batch1", "22:10:00", "22:10:00", "22:15:00"),
        ("JOB 1", "TASK 3", 1, "Ended", "Batch1", "22:15:00", "22:15:00", "22:20:00"),
        ("JOB 1", "TASK 4", 1, "Ended", "Batch2", "22:15:00", "22:15:30", "22:20:30"),
        ("JOB 1", "TASK 5", 1, "Didn't run", None, None, None, None),
        ("JOB 1", "TASK 6", 1, "Didn't run", None, None, None, None),
        ("JOB 1", "TASK 7", 1, "Ended", "Batch2", "22:20:30", "22:20:30", "22:25:30"),
    ]


def test_walkthrough_error_branch_cut_by_the_horizon() -> None:
    # TASK 2 fails at 22:15: TASK 3 and 4 can no longer run, so neither can 6 and 7;
    # TASK 5 starts at once on the freed thread and is still running at the 22:17 horizon.
    doc = walkthrough(fail=1)
    doc["horizon"] = "17m"
    assert ref_log(doc) == [
        ("JOB 1", "TASK 1", 1, "Ended", "Batch1", "22:00:00", "22:00:00", "22:10:00"),
        ("JOB 1", "TASK 2", 1, "Error", "Batch1", "22:10:00", "22:10:00", "22:15:00"),
        ("JOB 1", "TASK 3", 1, "Didn't run", None, None, None, None),
        ("JOB 1", "TASK 4", 1, "Didn't run", None, None, None, None),
        ("JOB 1", "TASK 5", 1, "Executing", "Batch1", "22:15:00", "22:15:00", None),
        ("JOB 1", "TASK 6", 1, "Didn't run", None, None, None, None),
        ("JOB 1", "TASK 7", 1, "Didn't run", None, None, None, None),
    ]


def one_server(jobs: dict[str, Any], horizon: str = "1h", **server: Any) -> dict[str, Any]:
    return {"start": "2026-01-05 22:00", "horizon": horizon, "polling": "1m",
            "scheduling": "affinity",
            "servers": {"S1": {"threads": 1, "poll_offset": 0, **server}}, "jobs": jobs}


RETRIES = one_server({
    "A": {"tasks": {"T": {"duration": "5m", "fail": 1, "retries": 1},
                    "V": {"duration": "4m", "after": {"T": "error"}, "condition": "any"},
                    "W": {"duration": "1m", "after": {"T": "ended"}},
                    "X": {"duration": "1m", "after": {"V": "ended or error"}}}},
    "B": {"start": "2026-01-05 22:02", "tasks": {"U": {"duration": "1m"}}},
}, horizon="15m30s")


def test_retries_oldest_ready_first_and_the_thread_takes_its_retry_back() -> None:
    # T fails twice (retries 1). At 22:05 its retry is ready, but U has been ready since
    # 22:02 and is older: U runs 22:05-22:06, then the freed thread takes T's retry at once.
    # V (after T: error, any) is ready when T's last attempt fails at 22:11, and W (after
    # T: ended) can no longer run. X is picked at 22:15
    # and still running at the 22:15:30 horizon.
    doc = copy.deepcopy(RETRIES)
    assert ref_log(doc) == [
        ("A", "T", 1, "Error", "S1", "22:00:00", "22:00:00", "22:05:00"),
        ("A", "T", 2, "Error", "S1", "22:05:00", "22:06:00", "22:11:00"),
        ("A", "V", 1, "Ended", "S1", "22:11:00", "22:11:00", "22:15:00"),
        ("A", "W", 1, "Didn't run", None, None, None, None),
        ("A", "X", 1, "Executing", "S1", "22:15:00", "22:15:00", None),
        ("B", "U", 1, "Ended", "S1", "22:02:00", "22:05:00", "22:06:00"),
    ]
    # U due at 22:06 instead: nothing older at 22:05, so T's retry goes straight back; at
    # 22:10 U (ready 22:06) is older than V (22:10); V's end at the 22:15 horizon is not
    # processed: V is Executing and X Waiting
    doc["jobs"]["B"]["start"] = "2026-01-05 22:06"
    doc["horizon"] = "15m"
    assert ref_log(doc) == [
        ("A", "T", 1, "Error", "S1", "22:00:00", "22:00:00", "22:05:00"),
        ("A", "T", 2, "Error", "S1", "22:05:00", "22:05:00", "22:10:00"),
        ("A", "V", 1, "Executing", "S1", "22:10:00", "22:11:00", None),
        ("A", "W", 1, "Didn't run", None, None, None, None),
        ("A", "X", 1, "Waiting", None, None, None, None),
        ("B", "U", 1, "Ended", "S1", "22:06:00", "22:10:00", "22:11:00"),
    ]


TIES: dict[str, Any] = {
    "start": "2026-01-05 22:00", "horizon": "1h", "polling": "1m",
    "scheduling": "affinity",
    "servers": {"S1": {"threads": 1, "poll_offset": "30s"},
                "S2": {"threads": 1, "poll_offset": 0}},
    "jobs": {"Z": {"tasks": {"K": {"duration": "10m"}}},
             "A": {"tasks": {"K": {"duration": "9m30s"}}},
             "Y": {"start": "2026-01-05 22:01",
                   "tasks": {"L": {"duration": "1m"}, "M": {"duration": "1m"}}}}}


def test_ties_follow_the_file_and_threads_freed_together_pick_in_server_order() -> None:
    # Z and A are due together; Z is first in the file, so it goes first (not by name).
    # S2 (offset 0) starts Z's 10m task at 22:00, S1 (offset 30s) A's 9m30s one at 22:00:30:
    # both end at 22:10, so their threads are freed at one instant and pick in server file
    # order, though S2's attempt started first and belongs to the earlier job: S1 takes
    # the oldest ready task (Y's L, ready 22:01 like M, first in the file), S2 takes M.
    assert ref_log(TIES) == [
        ("Z", "K", 1, "Ended", "S2", "22:00:00", "22:00:00", "22:10:00"),
        ("A", "K", 1, "Ended", "S1", "22:00:00", "22:00:30", "22:10:00"),
        ("Y", "L", 1, "Ended", "S1", "22:01:00", "22:10:00", "22:11:00"),
        ("Y", "M", 1, "Ended", "S2", "22:01:00", "22:10:00", "22:11:00"),
    ]


POLLING_ZERO: dict[str, Any] = {
    "start": "2026-01-05 22:00", "horizon": "10m", "polling": 0,
    "scheduling": "affinity",
    "servers": {"S1": {"threads": 1}, "S2": {"threads": 2}},
    "jobs": {"J": {"start": "2026-01-05 22:00:07",
                   "tasks": {"A": {"duration": 60}, "B": {"duration": 90},
                             "C": {"duration": 30}, "D": {"duration": 30},
                             "E": {"duration": 20, "after": {"C": "ended",
                                                             "D": "ended"}}}},
             "Late": {"start": "2026-01-05 22:10", "tasks": {"T": {"duration": 1}}}}}


def test_polling_zero_dispatches_at_once_in_server_order() -> None:
    # polling 0: every idle server takes work the instant it is ready, servers in file
    # order; a job due at the horizon has no rows.
    assert ref_log(POLLING_ZERO) == [
        ("J", "A", 1, "Ended", "S1", "22:00:07", "22:00:07", "22:01:07"),
        ("J", "B", 1, "Ended", "S2", "22:00:07", "22:00:07", "22:01:37"),
        ("J", "C", 1, "Ended", "S2", "22:00:07", "22:00:07", "22:00:37"),
        ("J", "D", 1, "Ended", "S2", "22:00:07", "22:00:37", "22:01:07"),
        ("J", "E", 1, "Ended", "S1", "22:01:07", "22:01:07", "22:01:27"),
    ]


HAND_MADE = [walkthrough(), walkthrough(fail=1), {**walkthrough(fail=1), "horizon": "17m"},
             RETRIES, TIES, POLLING_ZERO]


@pytest.mark.parametrize("doc", HAND_MADE,
                         ids=["ended", "error", "horizon", "retries", "ties", "polling-0"])
def test_simbatch_agrees_on_the_hand_checked_scenarios(doc: dict[str, Any]) -> None:
    assert simbatch_rows(doc) == reference_rows(doc)


class TaskOrderFirst(ref.ReferenceModel):
    """A planted mutant: ties among tasks ready together broken by task order, then job."""

    def rank(self, task: Any) -> tuple[int, ...]:
        return (task.ready, task.index, task.job)


def test_the_comparison_catches_a_planted_tie_rule() -> None:
    # J's P and Q and K's R are ready together on one thread: J's tasks go first (job
    # order); the mutant runs R before Q (task order first), and simbatch tells them apart
    doc = one_server({"J": {"tasks": {"P": {"duration": 60}, "Q": {"duration": 60}}},
                      "K": {"tasks": {"R": {"duration": 60}}}})
    starts = {(r.job, r.task): clock(r.start) for r in ref.simulate(doc)}
    assert starts == {("J", "P"): "22:00:00", ("J", "Q"): "22:01:00", ("K", "R"): "22:02:00"}
    mutant = rows(ref.frame(TaskOrderFirst(doc).run(), doc))
    assert simbatch_rows(doc) == reference_rows(doc) != mutant


# ---- (b) the differential test ---------------------------------------------------------------

STATUSES = ["ended", "error", "ended or error"]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A random small scenario inside the reference's semantics."""
    polling = draw(st.sampled_from([0, 60]))
    servers = {}
    for i in range(draw(st.integers(1, 3))):
        spec: dict[str, Any] = {"threads": draw(st.integers(1, 3))}
        if polling:
            spec["poll_offset"] = draw(st.one_of(st.sampled_from([0, 30]),
                                                   st.integers(0, 59)))
        servers[f"S{i + 1}"] = spec
    seconds = st.one_of(st.sampled_from([30, 60, 90, 120, 300]), st.integers(1, 400))
    jobs = {}
    # names in a random order, so that file order and name order differ
    job_names = draw(st.permutations(["J1", "J2", "J3", "J4"]))
    task_names = draw(st.permutations(["T1", "T2", "T3", "T4", "T5"]))
    for j in range(draw(st.integers(1, 4))):
        tasks: dict[str, Any] = {}
        for k in range(draw(st.integers(1, 5))):
            task: dict[str, Any] = {"duration": draw(seconds)}
            earlier = list(tasks)
            if earlier:
                deps = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3))
                if deps:
                    task["after"] = {d: draw(st.sampled_from(STATUSES)) for d in deps}
                    task["condition"] = draw(st.sampled_from(["all", "any"]))
            fail = draw(st.sampled_from([0, 0, 1]))
            if fail:
                task["fail"] = 1
            retries = draw(st.integers(0, 2))
            if retries:
                task["retries"] = retries
            tasks[task_names[k]] = task
        due = START + pd.Timedelta(seconds=draw(st.one_of(st.just(0), st.integers(0, 900))))
        jobs[job_names[j]] = {"start": f"{due:%Y-%m-%d %H:%M:%S}", "tasks": tasks}
    return {"start": f"{START:%Y-%m-%d %H:%M}", "horizon": draw(st.integers(60, 2400)),
            "polling": polling, "scheduling": "affinity", "servers": servers, "jobs": jobs}


def assert_agree(doc: dict[str, Any]) -> None:
    expected = reference_rows(doc)
    assert simbatch_rows(copy.deepcopy(doc)) == expected, doc


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_simbatch_matches_the_reference(doc: dict[str, Any]) -> None:
    assert_agree(doc)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_simbatch_matches_the_reference_long(doc: dict[str, Any]) -> None:
    assert_agree(doc)
