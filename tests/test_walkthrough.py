"""The reference walkthrough (seven dependent tasks on Batch1 and Batch2), as exact logs."""

from __future__ import annotations

import copy

import pandas as pd

import simbatch
from tests.conftest import SCENARIOS, log


def walkthrough(fail_task2: float, **server_overrides: dict[str, object]) -> dict[str, object]:
    doc = copy.deepcopy(simbatch.load(SCENARIOS / "walkthrough.yaml").document)
    doc["jobs"]["JOB 1"]["tasks"]["TASK 2"]["fail"] = fail_task2
    doc["servers"].update(server_overrides)
    return dict(doc)


def test_ended_branch_exact_log() -> None:
    result = simbatch.simulate(walkthrough(0))
    # Batch1 polls on the minute, Batch2 on the half minute. TASK 1 is ready at 22:00:00
    # and Batch1's poll takes it. Batch1's thread frees at 22:10 and takes TASK 2 at once;
    # at 22:15 it takes TASK 3 (first in file order) and TASK 4 waits for Batch2's poll at
    # 22:15:30. TASK 7 needs both, so it is ready when TASK 4 ends at 22:20:30 and the
    # thread freed at that instant takes it. TASK 5 and TASK 6 are error branches.
    assert log(result) == [
        ("TASK 1", 1, "Ended", "Batch1", "22:00:00", "22:10:00"),
        ("TASK 2", 1, "Ended", "Batch1", "22:10:00", "22:15:00"),
        ("TASK 3", 1, "Ended", "Batch1", "22:15:00", "22:20:00"),
        ("TASK 4", 1, "Ended", "Batch2", "22:15:30", "22:20:30"),
        ("TASK 5", 1, "Didn't run", None, None, None),
        ("TASK 6", 1, "Didn't run", None, None, None),
        ("TASK 7", 1, "Ended", "Batch2", "22:20:30", "22:25:30"),
    ]
    job = result.jobs.iloc[0]
    assert (job.job, job.run, job.status, job.tasks) == ("JOB 1", 1, "Ended", 7)
    assert job.start == pd.Timestamp("2026-01-05 22:00", tz="UTC")
    assert job.end == pd.Timestamp("2026-01-05 22:25:30", tz="UTC")
    assert job.duration == pd.Timedelta("25m30s")
    waits = dict(zip(result.tasks.task, result.tasks.wait, strict=True))
    assert waits["TASK 4"] == pd.Timedelta("30s")
    assert waits["TASK 7"] == pd.Timedelta(0)


def test_error_branch_exact_log_and_job_error() -> None:
    result = simbatch.simulate(walkthrough(1))
    assert log(result) == [
        ("TASK 1", 1, "Ended", "Batch1", "22:00:00", "22:10:00"),
        ("TASK 2", 1, "Error", "Batch1", "22:10:00", "22:15:00"),
        ("TASK 3", 1, "Didn't run", None, None, None),
        ("TASK 4", 1, "Didn't run", None, None, None),
        ("TASK 5", 1, "Ended", "Batch1", "22:15:00", "22:20:00"),
        ("TASK 6", 1, "Didn't run", None, None, None),
        ("TASK 7", 1, "Didn't run", None, None, None),
    ]
    job = result.jobs.iloc[0]
    # TASK 2 failed and is not marked ignore_failure, so the job ends in Error even though
    # its error branch (TASK 5) ran.
    assert job.status == "Error"
    assert job.end == pd.Timestamp("2026-01-05 22:20:00", tz="UTC")


def test_ignore_failure_keeps_job_ended() -> None:
    doc = walkthrough(1)
    doc["jobs"]["JOB 1"]["tasks"]["TASK 2"]["ignore_failure"] = True  # type: ignore[index]
    assert simbatch.simulate(doc).jobs.status.tolist() == ["Ended"]


def test_first_poll_waits_for_the_servers_phase() -> None:
    # Both servers poll at :20 and :40 past the minute; the job is due at 22:00:00, so TASK 1
    # waits 20 s for Batch1's poll (first in file order at that instant).
    result = simbatch.simulate(walkthrough(0, Batch1={"threads": 1, "poll_offset": "20s"},
                                           Batch2={"threads": 1, "poll_offset": "20s"}))
    first = result.tasks.iloc[0]
    assert (first.server, first.start.strftime("%H:%M:%S")) == ("Batch1", "22:00:20")
    # TASK 3 and TASK 4 become ready together at 22:15:20: Batch1's freed thread takes
    # TASK 3; Batch2, polling at that instant, takes TASK 4 with no wait.
    t4 = result.tasks[result.tasks.task == "TASK 4"].iloc[0]
    assert (t4.server, t4.wait) == ("Batch2", pd.Timedelta(0))


def test_simultaneous_frees_pick_in_server_file_order() -> None:
    # polling 0: at 00:00 A takes R1 (5m) and B takes R2 (10m). A's freed thread takes C at
    # 00:05, so C (on A) and R2 (on B) both end at 00:10, C's end scheduled after R2's.
    # D becomes ready at 00:10; the threads freed at one instant pick in the servers' file
    # order, not in the order their end events were scheduled, so A takes D.
    doc = {
        "start": "2026-01-05 00:00", "horizon": "1h", "polling": 0,
        "servers": {"A": {"threads": 1}, "B": {"threads": 1}},
        "jobs": {"J": {"tasks": {
            "R1": {"duration": "5m"},
            "R2": {"duration": "10m"},
            "C": {"duration": "5m", "after": {"R1": "ended"}},
            "D": {"duration": "5m", "after": {"C": "ended"}},
        }}},
    }
    assert log(simbatch.simulate(doc)) == [
        ("R1", 1, "Ended", "A", "00:00:00", "00:05:00"),
        ("R2", 1, "Ended", "B", "00:00:00", "00:10:00"),
        ("C", 1, "Ended", "A", "00:05:00", "00:10:00"),
        ("D", 1, "Ended", "A", "00:10:00", "00:15:00"),
    ]
