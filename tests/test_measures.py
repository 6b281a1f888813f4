"""The metric primitives of ``results.measures`` on small hand-computed cases.

The other tests reach these functions through whole runs (``test_deadlines``, ``test_metrics``,
``test_summary``); here each is checked on arrays small enough to work out by hand: the
edges (an empty input, ties at one instant, a run ending exactly at its deadline, a due
time exactly at the deadline's wall time, a deadline at midnight, a wall time that happens
twice) that whole runs rarely hit. They were written against the mutants that survived a
mutation run (docs/explanation/statistics.md, "Mutation testing").
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from simbatch.engine.recorder import NA
from simbatch.engine.servers import Limits
from simbatch.results.measures import (
    Steps,
    areas,
    capacity_changes,
    count_open,
    deadline_figures,
    judge_deadlines,
    next_time_of_day,
    unique_instants,
    wait_figures,
)
from simbatch.scenario.spec import Deadline
from simbatch.scenario.timegrammar import NS


def ns(text: str) -> int:
    """An instant as integer ns since the epoch, from a UTC time."""
    return int(pd.Timestamp(text, tz="UTC").value)


def ints(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def test_count_open_counts_every_change_at_one_instant_at_once() -> None:
    # opens at 30, 10, 10 and closes at 40, 20, 30, in no order: at 30 one interval
    # closes and one opens, so the count stays 1 (no step down to 0 and back)
    step = count_open(0, ints(30, 10, 10), ints(40, 20, 30))
    assert step.times.tolist() == [0, 10, 20, 30, 40]
    assert step.values.tolist() == [0.0, 2.0, 1.0, 1.0, 0.0]
    assert step.times.dtype == np.int64 and step.values.dtype == np.float64


def test_count_open_of_nothing_is_zero_from_the_origin() -> None:
    step = count_open(5, ints(), ints())
    assert step.times.tolist() == [5] and step.values.tolist() == [0.0]


def test_a_step_function_holds_its_value_from_each_change_on() -> None:
    step = Steps(ints(0, 10, 20), np.array([0.0, 2.0, 1.0]))
    # at a change instant the value is the one after the change
    assert step.at(ints(0, 5, 10, 15, 20, 99)).tolist() == [0.0, 0.0, 2.0, 2.0, 1.0, 1.0]


def test_unique_instants_sorts_and_merges() -> None:
    assert unique_instants(ints(3, 1, 3, 2, 1)).tolist() == [1, 2, 3]
    assert unique_instants(ints(7)).tolist() == [7]
    assert unique_instants(ints()).tolist() == []


def test_areas_integrate_a_step_function_over_bins_in_seconds() -> None:
    # one interval open from 10 s to 20 s, twice from 12 s to 14 s
    step = count_open(0, ints(10 * NS, 12 * NS, 12 * NS), ints(20 * NS, 14 * NS, 14 * NS))
    bins = ints(0, 11 * NS, 15 * NS, 30 * NS)
    # [0, 11): 1 s; [11, 15): 4 s + 2 x 2 s; [15, 30): 5 s. Whole ns over whole seconds are
    # exact in float64, so the areas are compared exactly: a nanosecond more shows.
    assert areas(step, bins).tolist() == [1.0, 8.0, 5.0]


def test_wait_figures_count_only_attempts_ready_from_first_on() -> None:
    first = 100 * NS
    ready = ints(NA, 50 * NS, 100 * NS, 110 * NS, 120 * NS)
    start = ints(NA, 60 * NS, 130 * NS, 150 * NS, NA)
    group = ints(0, 0, 0, 1, 1)
    rows = {(metric, key): value for metric, key, value in
            wait_figures(["a", "b"], ready, start, group, first)}
    # the attempt never ready and the one ready before `first` are left out; the one
    # ready but not started counts nowhere
    assert rows[("tasks_started", "all")] == 2.0
    assert rows[("wait_mean_s", "all")] == pytest.approx(35.0)
    assert rows[("wait_mean_s", "a")] == pytest.approx(30.0)
    assert rows[("wait_p95_s", "b")] == pytest.approx(40.0)


def test_wait_figures_of_no_started_attempt_are_undefined_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = wait_figures(["a"], ints(100 * NS), ints(NA), ints(0), 0)
    figures = {(metric, key): value for metric, key, value in rows}
    assert figures[("tasks_started", "all")] == 0.0
    assert np.isnan(figures[("wait_mean_s", "all")])
    assert np.isnan(figures[("wait_p95_s", "a")])


def test_next_time_of_day_is_strictly_after_and_in_the_zone() -> None:
    six = 6 * 3600
    due = ints(ns("2026-03-02 05:59:59"), ns("2026-03-02 06:00:00"), ns("2026-03-02 07:00"))
    assert next_time_of_day(due, six, "UTC").tolist() == [
        ns("2026-03-02 06:00"), ns("2026-03-03 06:00"), ns("2026-03-03 06:00")]
    # 06:00 in Paris is 05:00 UTC in winter
    assert next_time_of_day(ints(ns("2026-03-02 04:00")), six, "Europe/Paris").tolist() == [
        ns("2026-03-02 05:00")]


def test_next_time_of_day_counts_from_the_local_date_not_the_utc_date() -> None:
    # 02:00 UTC on 2 March is still 1 March, 21:00 in New York: the next 22:00 there is
    # that same local evening (03:00 UTC on 2 March), not the evening of the UTC date.
    ten_pm = 22 * 3600
    due = ints(ns("2026-03-02 02:00"))
    assert next_time_of_day(due, ten_pm, "America/New_York").tolist() == [
        ns("2026-03-02 03:00")]


def test_capacity_changes_list_a_row_only_where_a_limit_or_a_dedication_changes() -> None:
    # server 0: 2 threads, a period at 100 that leaves them at 2, then 4 from 200;
    # server 1: 3 threads throughout, dedicated to Reserved capacity from 50 on
    tables = SimpleNamespace(times=[[0, 100, 200], [0]], limits=[[2, 2, 4], [3]],
                             down=[[], []], horizon=300,
                             reserved=[(50, frozenset({1}))])
    assert capacity_changes(Limits(tables)) == [  # type: ignore[arg-type]
        (0, 0, 2, False), (0, 200, 4, False),
        (1, 0, 3, False), (1, 50, 3, True),
    ]


def test_next_time_of_day_of_no_run_is_an_empty_instant_array() -> None:
    out = next_time_of_day(ints(), 3600, "UTC")
    assert len(out) == 0 and out.dtype == np.int64


def test_a_wall_time_that_happens_twice_means_its_first_occurrence() -> None:
    # 2026-10-25, Paris: 02:30 happens at 00:30 UTC (summer time) and 01:30 UTC
    due = ints(ns("2026-10-24 22:00"))
    assert next_time_of_day(due, 2 * 3600 + 1800, "Europe/Paris").tolist() == [
        ns("2026-10-25 00:30")]


def test_a_deadline_at_midnight_is_the_next_midnight() -> None:
    due = ints(ns("2026-03-02 22:00"))
    deadline, finished, late, undetermined = judge_deadlines(
        Deadline(time_of_day=0), "UTC", due, ints(ns("2026-03-03 00:00:01")),
        ns("2026-03-04 00:00"))
    assert deadline.tolist() == [ns("2026-03-03 00:00")]
    assert late.tolist() == [NS] and finished.tolist() == [True]
    assert undetermined.tolist() == [False]


def test_a_run_that_ends_exactly_at_its_deadline_is_met() -> None:
    due = ints(0, 0, 0)
    deadline = ints(10 * NS, 10 * NS, 10 * NS)
    end = ints(10 * NS, 10 * NS + 1, 9 * NS)
    no = np.zeros(3, bool)
    figures = deadline_figures(deadline, due, end, ~no, end - deadline, no, no)
    assert (figures.met, figures.missed, figures.runs) == (2, 1, 3)
    assert figures.margin_min == -1
