"""Retries: numbered attempts, a failed task back in the queue at once, full failed runs."""

from __future__ import annotations

import pandas as pd

import simbatch
from tests.conftest import log, scenario


def test_five_retries_that_always_fail_give_six_error_rows() -> None:
    doc = scenario(jobs={"J": {"tasks": {
        "T": {"duration": "5m", "fail": 1, "retries": 5},
        "Next": {"duration": "1m", "after": {"T": "ended"}}}}})
    result = simbatch.simulate(doc)
    rows = result.tasks[result.tasks.task == "T"]
    assert rows.status.tolist() == ["Error"] * 6
    assert rows.attempt.tolist() == [1, 2, 3, 4, 5, 6]
    # each failed attempt ran its full duration, and the freed thread took the retry back
    # at the same instant
    assert (rows.duration == pd.Timedelta("5m")).all()
    assert (rows.start.iloc[1:].to_numpy() == rows.end.iloc[:-1].to_numpy()).all()
    assert (rows.wait.iloc[1:] == pd.Timedelta(0)).all()
    assert result.tasks[result.tasks.task == "Next"].status.tolist() == ["Didn't run"]
    assert result.jobs.status.tolist() == ["Error"]
    assert result.jobs.tasks.tolist() == [7]


def test_a_retry_that_succeeds_ends_the_task_and_lets_dependents_run() -> None:
    doc = scenario(jobs={"J": {"tasks": {
        "T": {"duration": "5m", "fail": 0.5, "retries": 5},
        "Next": {"duration": "1m", "after": {"T": "ended"}}}}})
    for seed in range(20):
        result = simbatch.simulate(doc, seed=seed)
        statuses = result.tasks[result.tasks.task == "T"].status.tolist()
        if statuses[-1] == "Ended" and len(statuses) > 1:
            assert set(statuses[:-1]) == {"Error"}
            assert result.jobs.status.tolist() == ["Ended"]
            assert result.tasks[result.tasks.task == "Next"].status.tolist() == ["Ended"]
            return
    raise AssertionError("no seed in 0..19 gave a failure followed by success")


def test_retry_waits_behind_older_ready_work() -> None:
    # One thread. A (fails once, retries 1) and B are ready at 00:00. A runs first and
    # fails at 00:05; its retry is ready at 00:05 but B has waited since 00:00, so B goes
    # first and the retry follows.
    doc = scenario(start="2026-01-05 00:00", polling=0, servers={"S": {"threads": 1}},
                   jobs={"J": {"tasks": {"A": {"duration": "5m", "fail": 1, "retries": 1},
                                         "B": {"duration": "5m"}}}})
    assert log(simbatch.simulate(doc)) == [
        ("A", 1, "Error", "S", "00:00:00", "00:05:00"),
        ("A", 2, "Error", "S", "00:10:00", "00:15:00"),
        ("B", 1, "Ended", "S", "00:05:00", "00:10:00"),
    ]
