"""The shared database: load-dependent durations, the start throttle, what results show.

Exact small cases first (durations worked out by hand), then the theory of processor
sharing (slow), the throttle, and invariants under Hypothesis.

Theory tolerances: a mean time in system is the mean over 12 independent seeds of each
seed's mean (the first 10% of tasks dropped as warm-up); it must pass a two-sided
one-sample t test at ALPHA = 0.01 against theory, and the test must have the power (0.9)
to see a 10% error (the detectable difference (t(1 - ALPHA/2) + t(POWER)) x SE, on k - 1
degrees of freedom, is at most 10% of theory), which is asserted too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import simbatch
from simbatch.errors import ScenarioError
from tests.conftest import log, scenario

MIN = pd.Timedelta("1min")


def doc(jobs: dict[str, Any], capacity: float = 1, **overrides: Any) -> dict[str, Any]:
    """A scenario with one server of 8 threads, dispatch at once and a database."""
    base = scenario(polling=0, servers={"S1": {"threads": 8}}, jobs=jobs,
                    database={"capacity": capacity})
    base.update(overrides)
    return base


def minutes(result: simbatch.Result) -> dict[str, tuple[float, float, float]]:
    """Per task: (start, end, work) in minutes after the scenario start."""
    origin = pd.Timestamp(result.scenario.start)
    return {str(r.task): ((r.start - origin) / MIN, (r.end - origin) / MIN, r.work / MIN)
            for r in result.tasks.itertuples()}


# ---- exact small cases ------------------------------------------------------------------------

def test_two_tasks_of_load_one_on_capacity_one_take_twice_their_work() -> None:
    result = simbatch.simulate(doc({"J": {"tasks": {"A": {"duration": "10m"},
                                                    "B": {"duration": "10m"}}}}))
    assert minutes(result) == {"A": (0, 20, 10), "B": (0, 20, 10)}
    assert list(result.tasks.duration) == [pd.Timedelta("20min")] * 2


def test_load_zero_is_never_slowed() -> None:
    result = simbatch.simulate(doc({"J": {"tasks": {
        "A": {"duration": "10m"}, "B": {"duration": "10m"},
        "Z": {"duration": "10m", "load": 0}}}}))
    assert minutes(result) == {"A": (0, 20, 10), "B": (0, 20, 10), "Z": (0, 10, 10)}


def test_a_task_that_starts_while_another_runs_ends_when_the_arithmetic_says() -> None:
    # A alone for 5 minutes (5 of its 10 done), then A and D at half speed: A's other 5
    # take 10 minutes (ends 15), when D has done 5; B (after A) and D at half speed until
    # D's other 5 are done at 25, when B has done 5; B runs its last 5 alone: ends 30
    result = simbatch.simulate(doc({
        "J": {"tasks": {"A": {"duration": "10m"},
                        "B": {"duration": "10m", "after": {"A": "ended"}}}},
        "L": {"start": "2026-01-05 22:05", "tasks": {"D": {"duration": "10m"}}}}))
    assert minutes(result) == {"A": (0, 15, 10), "B": (15, 30, 10), "D": (5, 25, 10)}


def test_heavier_loads_share_the_same_speed() -> None:
    # load 3 + load 1 = 4 on capacity 2: both at speed 1/2
    result = simbatch.simulate(doc({"J": {"tasks": {
        "A": {"duration": "10m", "load": 3}, "B": {"duration": "4m"}}}}, capacity=2))
    # B: 4 minutes of work at 1/2 -> ends 8; A has done 4, then alone: load 3 on 2, speed
    # 2/3: 6 minutes of work take 9 -> ends 17
    assert minutes(result) == {"A": (0, 17, 10), "B": (0, 8, 4)}


def test_below_capacity_nothing_is_stretched() -> None:
    result = simbatch.simulate(doc({"J": {"tasks": {
        "A": {"duration": "10m"}, "B": {"duration": "7m", "load": 0.5}}}}, capacity=1.5))
    assert minutes(result) == {"A": (0, 10, 10), "B": (0, 7, 7)}
    assert list(result.database.speed) == [1.0, 1.0, 1.0]


def test_the_database_table_follows_load_and_speed() -> None:
    result = simbatch.simulate(doc({
        "J": {"tasks": {"A": {"duration": "10m"}}},
        "L": {"start": "2026-01-05 22:05", "tasks": {"D": {"duration": "10m"}}}}))
    table = result.database
    origin = pd.Timestamp(result.scenario.start)
    assert [((t - origin) / MIN, load, n, speed) for t, load, n, speed in
            table.itertuples(index=False)] == [
        (0, 1.0, 1, 1.0), (5, 2.0, 2, 0.5), (15, 1.0, 1, 1.0), (20, 0.0, 0, 1.0)]


def test_runtime_children_carry_their_own_load() -> None:
    result = simbatch.simulate(doc({"J": {"tasks": {"P": {
        "duration": "1m", "load": 0,
        "runtime": {"tasks": 2, "duration": "10m", "load": 1}}}}}))
    assert minutes(result) == {"P": (0, 1, 1), "P #1": (0, 20, 10), "P #2": (0, 20, 10)}


def test_a_restart_takes_the_load_off_at_once() -> None:
    # two servers; S2 goes down at 4 minutes: its task ends in Error then, and the task
    # on S1 (4 minutes done at half speed = 2 of work) runs the other 8 at full speed
    jobs = {"J": {"tasks": {"A": {"duration": "10m"}}},
            "K": {"tasks": {"B": {"duration": "10m"}}}}
    result = simbatch.simulate(doc(jobs, servers={"S1": {"threads": 1}, "S2": {"threads": 1}},
                                   outages=[{"server": "S2", "at": "2026-01-05 22:04",
                                             "for": "1h"}]))
    assert log(result) == [("A", 1, "Ended", "S1", "22:00:00", "22:12:00"),
                           ("B", 1, "Error", "S2", "22:00:00", "22:04:00")]


def test_without_a_database_the_tables_have_no_new_columns() -> None:
    result = simbatch.simulate(scenario())
    assert "work" not in result.tasks.columns
    assert result.database is None


@pytest.mark.parametrize(("written", "problem"), [
    ({"capacity": 0}, "greater than or equal to 0.001"),
    ({"capacity": 4, "throttle_at": "ninety"}, "throttle_at is a share"),
    ({"capacity": 4, "throttle_at": 0}, "throttle_at is a share"),
    ({"capacity": 4, "throttle": "90%"}, "unknown key 'throttle'"),
])
def test_bad_database_settings_are_named(written: dict[str, Any], problem: str) -> None:
    with pytest.raises(ScenarioError, match=problem):
        simbatch.load(scenario(database=written))


def test_a_negative_load_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"jobs\.J\.tasks\.T\.load"):
        simbatch.load(scenario(jobs={"J": {"tasks": {"T": {"duration": "5m", "load": -1}}}}))


# ---- the throttle ------------------------------------------------------------------------------

def throttled(threshold: str, **job_extra: Any) -> dict[str, Any]:
    """Two servers polling every minute at 0 s and 30 s; C = 2 and the given throttle."""
    return scenario(
        polling="1m", database={"capacity": 2, "throttle_at": threshold},
        servers={"S1": {"threads": 4, "poll_offset": "0s"},
                 "S2": {"threads": 4, "poll_offset": "30s"}},
        jobs={"Big": {"tasks": {"A": {"duration": "10m", "load": 2}}},
              "Late": {"start": "2026-01-05 22:02", **job_extra,
                       "tasks": {"B": {"duration": "1m"}}}})


def test_nothing_starts_while_the_load_is_at_the_threshold() -> None:
    # A (load 2) fills C = 2: at 100% B may not start, though both servers have threads;
    # A ends at 22:10 on S1, whose freed thread takes B at once
    result = simbatch.simulate(throttled("100%"))
    assert log(result) == [("A", 1, "Ended", "S1", "22:00:00", "22:10:00"),
                           ("B", 1, "Ended", "S1", "22:10:00", "22:11:00")]


def test_below_the_threshold_starts_go_on() -> None:
    result = simbatch.simulate(throttled("101%"))
    assert log(result)[1] == ("B", 1, "Ended", "S1", "22:02:00", "22:03:30")


def test_work_resumes_at_the_next_poll_after_the_load_falls() -> None:
    # B belongs to a group only S2 runs (affinity): when A ends at 22:10 on S1, S1's
    # freed thread may not take it, so B waits for S2's next poll, at 22:10:30
    doc_ = throttled("100%", group="Only2")
    doc_.update(scheduling="affinity", groups={"Only2": {"servers": ["S2"]},
                                               "default": {"servers": ["S1"]}})
    result = simbatch.simulate(doc_)
    assert log(result) == [("A", 1, "Ended", "S1", "22:00:00", "22:10:00"),
                           ("B", 1, "Ended", "S2", "22:10:30", "22:11:30")]


def test_reserved_capacity_and_critical_work_are_throttled_too() -> None:
    for priority in ("reserved", "critical"):
        result = simbatch.simulate(throttled("100%", priority=priority))
        assert log(result)[1] == ("B", 1, "Ended", "S1", "22:10:00", "22:11:00"), priority


def test_each_start_counts_toward_the_throttle() -> None:
    # C = 4, throttle 50%: two tasks of load 1 reach 2 = 50%, so the third waits for an end
    result = simbatch.simulate(scenario(
        polling=0, database={"capacity": 4, "throttle_at": 0.5},
        servers={"S1": {"threads": 8}},
        jobs={"J": {"tasks": {"A": {"duration": "10m"}, "B": {"duration": "20m"},
                              "C": {"duration": "5m"}}}}))
    assert minutes(result) == {"A": (0, 10, 10), "B": (0, 20, 20), "C": (10, 15, 5)}


def test_lazy_polling_equals_polling_every_tick_under_the_throttle() -> None:
    from simbatch.engine.model import Model
    from simbatch.results.result import Result

    doc_ = throttled("100%", group="Only2")
    doc_.update(scheduling="affinity", groups={"Only2": {"servers": ["S2"]},
                                               "default": {"servers": ["S1"]}})
    loaded = simbatch.load(doc_)
    tables = []
    for every_tick in (False, True):
        model = Model(loaded, 0, every_tick=every_tick)
        model.run()
        tables.append(Result.from_model(model).tasks)
    pd.testing.assert_frame_equal(tables[0], tables[1])


# ---- theory: processor sharing ---------------------------------------------------------------

SEEDS = range(1, 13)
ALPHA, POWER, DETECT = 0.01, 0.90, 0.10


def open_system(capacity: float, work: dict[str, Any], interval: str, days: int
                ) -> dict[str, Any]:
    """Poisson arrivals of one-task runs onto threads that never run out, polling 0."""
    return {"start": "2026-01-01 00:00", "horizon": f"{days}d", "polling": 0,
            "platform": "on-premises", "servers": {"S": {"threads": 500}},
            "database": {"capacity": capacity},
            "jobs": {"J": {"arrivals": {"interval": {"exponential": interval}},
                           "tasks": {"T": {"duration": work}}}}}


def mean_time_in_system(doc_: dict[str, Any]) -> tuple[float, float]:
    """The mean over seeds of each seed's mean time in system (minutes), and its SE."""
    means = []
    for seed in SEEDS:
        tasks = simbatch.simulate(doc_, seed=seed).tasks
        done = tasks[tasks.status == "Ended"].sort_values("ready")
        spent = ((done.end - done.ready) / MIN).to_numpy()
        means.append(spent[len(spent) // 10:].mean())
    values = np.array(means)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def check_against(theory: float, mean: float, se: float) -> None:
    k = len(SEEDS)
    t = stats.t.ppf([1 - ALPHA / 2, POWER], k - 1)
    assert (t[0] + t[1]) * se <= DETECT * theory, f"too little power: SE {se:.3f}"
    assert abs(mean - theory) <= t[0] * se, f"{mean:.3f} vs theory {theory:.3f} (SE {se:.3f})"


@pytest.mark.slow
@pytest.mark.parametrize("work", [{"exponential": "1m"},
                                  {"lognormal": {"mean": "1m", "sd": "2m"}}],
                         ids=["exponential", "lognormal"])
def test_capacity_one_is_m_g_1_processor_sharing(work: dict[str, Any]) -> None:
    # rho = 1 min / 2 min = 0.5: E[T] = E[S] / (1 - rho) = 2 min, whatever the work's
    # distribution (processor sharing is insensitive to it)
    mean, se = mean_time_in_system(open_system(1, work, "2m", 40))
    check_against(2.0, mean, se)


def mm2_time_in_system(arrival_rate: float, service_rate: float) -> float:
    """Mean time in system of M/M/2."""
    a = arrival_rate / service_rate
    rho = a / 2
    top = a**2 / 2 / (1 - rho)
    p_wait = top / (1 + a + top)
    return 1 / service_rate + p_wait / (2 * service_rate - arrival_rate)


@pytest.mark.slow
def test_capacity_two_with_exponential_work_is_m_m_2() -> None:
    # a processor-sharing database of capacity 2 with exponential work serves at rate
    # min(n, 2) mu with n tasks in it: the birth-death chain of M/M/2. rho = 0.6
    theory = mm2_time_in_system(1.2, 1.0)
    mean, se = mean_time_in_system(open_system(2, {"exponential": "1m"}, "50s", 40))
    check_against(theory, mean, se)


def test_the_m_m_2_formula_reference_value() -> None:
    # rho = 0.6: P(wait) = 0.45, E[T] = 1 + 0.45 / 0.8
    assert mm2_time_in_system(1.2, 1.0) == pytest.approx(1.5625)


# ---- invariants ---------------------------------------------------------------------------------

LOADS = (0.0, 0.5, 1.0, 2.0)


@st.composite
def contended(draw: st.DrawFn) -> dict[str, Any]:
    """A small scenario with a database, several jobs and mixed loads."""
    jobs: dict[str, Any] = {}
    for j in range(draw(st.integers(1, 3))):
        tasks: dict[str, Any] = {}
        for k in range(draw(st.integers(1, 3))):
            minutes_ = draw(st.integers(1, 30))
            kind = draw(st.sampled_from(["constant", "exponential"]))
            task: dict[str, Any] = {
                "duration": f"{minutes_}m" if kind == "constant"
                else {"exponential": f"{minutes_}m"},
                "load": draw(st.sampled_from(LOADS))}
            if k and draw(st.booleans()):
                task["after"] = {f"T{k - 1}": "ended"}
            tasks[f"T{k}"] = task
        job: dict[str, Any] = {"tasks": tasks}
        if draw(st.booleans()):
            job["arrivals"] = {"interval": {"exponential": f"{draw(st.integers(2, 60))}m"}}
        jobs[f"J{j}"] = job
    servers = {f"S{i}": {"threads": draw(st.integers(1, 4))}
               for i in range(draw(st.integers(1, 3)))}
    database: dict[str, Any] = {"capacity": draw(st.sampled_from([0.5, 1, 2, 3]))}
    if draw(st.booleans()):
        database["throttle_at"] = draw(st.sampled_from(["50%", "90%", "150%"]))
    outages = []
    if draw(st.booleans()):  # a restart ends attempts early: their load must leave at once
        outages.append({"server": "S0", "at": f"2026-01-05 {draw(st.integers(22, 23))}:"
                        f"{draw(st.integers(0, 59)):02d}", "for": "20m"})
    return scenario(horizon="12h", polling=draw(st.sampled_from([0, "1m"])),
                    servers=servers, jobs=jobs, database=database, outages=outages)


def work_done(result: simbatch.Result, status: str = "Ended") -> np.ndarray:
    """Per attempt of ``status``: the integral of the database's speed over its run."""
    table = result.database
    origin = pd.Timestamp(result.scenario.start)
    times = ((table.time - origin) / pd.Timedelta(1, "ns")).to_numpy(dtype=float)
    speed = table.speed.to_numpy()
    area = np.r_[0.0, np.cumsum(speed[:-1] * np.diff(times))]

    def integral(t: np.ndarray) -> np.ndarray:
        i = np.searchsorted(times, t, side="right") - 1
        out: np.ndarray = area[i] + speed[i] * (t - times[i])
        return out

    done = result.tasks[result.tasks.status == status]
    start = ((done.start - origin) / pd.Timedelta(1, "ns")).to_numpy(dtype=float)
    end = ((done.end - origin) / pd.Timedelta(1, "ns")).to_numpy(dtype=float)
    return integral(end) - integral(start)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contended(), st.integers(0, 3))
def test_work_done_is_work_sampled_and_speed_never_passes_one(doc_: dict[str, Any],
                                                             seed: int) -> None:
    result = simbatch.simulate(doc_, seed=seed)
    assert (result.database.speed <= 1.0).all()
    assert (result.database.speed > 0).all()
    done = result.tasks[result.tasks.status == "Ended"]
    loads = {(f"J{j}", f"T{k}"): t["load"] for j, job in enumerate(doc_["jobs"].values())
             for k, t in enumerate(job["tasks"].values())}
    shared = np.array([loads[(str(r.job), str(r.task))] > 0 for r in done.itertuples()],
                      dtype=bool)
    sampled = (done.work / pd.Timedelta(1, "ns")).to_numpy(dtype=float)
    duration = (done.duration / pd.Timedelta(1, "ns")).to_numpy(dtype=float)
    # a task on the database does its sampled work, to the nanosecond of rounding
    assert np.all(np.abs(work_done(result, "Ended")[shared] - sampled[shared]) <= 2.0)
    cut = result.tasks[result.tasks.cause == "restart"]  # ended early: less than its work
    assert np.all(work_done(result, "Error")[(result.tasks[result.tasks.status == "Error"]
                                             .cause == "restart").to_numpy()]
                  <= (cut.work / pd.Timedelta(1, "ns")).to_numpy(dtype=float) + 2.0)
    # one that never touches it runs exactly its work; none is faster than its work
    assert np.array_equal(duration[~shared], sampled[~shared])
    assert np.all(duration >= sampled)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contended(), st.integers(0, 3))
def test_lazy_polling_equals_polling_every_tick_with_a_database(doc_: dict[str, Any],
                                                               seed: int) -> None:
    from simbatch.engine.model import Model
    from simbatch.results.result import Result

    loaded = simbatch.load(doc_)
    tables = []
    for every_tick in (False, True):
        model = Model(loaded, seed, every_tick=every_tick)
        model.run()
        tables.append(Result.from_model(model))
    pd.testing.assert_frame_equal(tables[0].tasks, tables[1].tasks)
    pd.testing.assert_frame_equal(tables[0].database, tables[1].database)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contended(), st.integers(0, 3))
def test_a_database_that_never_saturates_changes_nothing(doc_: dict[str, Any],
                                                          seed: int) -> None:
    without = dict(doc_, jobs={name: dict(job, tasks={t: {k: v for k, v in task.items()
                                                          if k != "load"}
                                                      for t, task in job["tasks"].items()})
                               for name, job in doc_["jobs"].items()})
    del without["database"]
    roomy = dict(doc_, database={"capacity": 1e6})
    plain, shared = simbatch.simulate(without, seed=seed), simbatch.simulate(roomy, seed=seed)
    pd.testing.assert_frame_equal(plain.tasks, shared.tasks.drop(columns="work"))
    pd.testing.assert_frame_equal(plain.jobs, shared.jobs)


def test_the_work_clock_survives_a_long_contended_run() -> None:
    # 2,000 tasks through C = 1: every one does exactly its work (rounding stays at 1 ns)
    doc_ = open_system(1, {"exponential": "1m"}, "70s", 2)
    result = simbatch.simulate(doc_, seed=5)
    done = result.tasks[result.tasks.status == "Ended"]
    assert len(done) > 2000
    sampled = (done.work / pd.Timedelta(1, "ns")).to_numpy(dtype=float)
    assert np.max(np.abs(work_done(result) - sampled)) <= 2.0
    assert result.database.speed.min() < 0.2


# ---- what the results show ----------------------------------------------------------------------

def overlap() -> simbatch.Result:
    """A 0-10, D 5-15 of work on C = 1 (the arithmetic case above, without B)."""
    return simbatch.simulate(doc({
        "J": {"tasks": {"A": {"duration": "10m"}, "Z": {"duration": "10m", "load": 0}}},
        "L": {"start": "2026-01-05 22:05", "tasks": {"D": {"duration": "10m"}}}}))


def test_the_breakdown_shows_the_time_lost_to_contention() -> None:
    table = overlap().wait_breakdown().set_index("task")
    # A: 15 minutes for 10 of work; D: 15 for 10; Z (load 0): none lost
    assert table.contention.to_dict() == {"A": 5 * MIN, "Z": 0 * MIN, "D": 5 * MIN}
    assert "contention" not in simbatch.simulate(scenario()).wait_breakdown().columns


def test_the_database_summary_adds_up() -> None:
    from simbatch.results import metrics

    row = metrics.database_summary(overlap()).iloc[0]
    # saturated 22:05-22:15; A and D ran 30 thread-minutes, 10 of them lost
    assert row.saturated == pd.Timedelta("10min")
    assert row.lost_hours == pytest.approx(10 / 60)
    assert row.lost_share == pytest.approx(1 / 3)
    assert (row.peak_load, row.peak_tasks, row.saturation_tasks) == (2.0, 2, 1.0)
    assert metrics.database_summary(simbatch.simulate(scenario())).empty


def test_metric_rows_from_the_model_equal_those_from_the_tables() -> None:
    from simbatch.engine.model import Model
    from simbatch.results import summary

    doc_ = open_system(2, {"exponential": "1m"}, "40s", 1)
    result = simbatch.simulate(doc_, seed=3)
    model = Model(result.scenario, 3)
    model.run()
    from_model = summary.metric_rows(model)
    assert from_model == summary.result_metric_rows(result)
    names = {m for m, _, _ in from_model}
    assert {"db_saturated_share", "db_lost_share", "db_peak_tasks",
            "db_saturation_tasks"} <= names


def test_a_finding_says_when_the_database_sets_the_length() -> None:
    from simbatch.present.findings import findings

    said = [f for f in findings(overlap()) if "database is saturated" in f]
    assert said == [
        "Above 1 concurrent task the database is saturated: more threads lengthen every"
        " task. It was saturated for 0:10:00 (1% of the horizon), with up to 2 tasks (load 2"
        " against a capacity of 1); contention took 33% of the time tasks ran (0.2"
        " thread-hours). Suggestion: limit concurrency (max_concurrency on the heaviest"
        " groups) or move heavy jobs apart rather than add threads."]
    roomy = simbatch.simulate(doc({"J": {"tasks": {"A": {"duration": "10m"}}}}, capacity=4))
    assert not [f for f in findings(roomy) if "database" in f]


def test_the_database_plot_draws_load_capacity_and_speed() -> None:
    from simbatch.present.plots import database_load

    fig = database_load(overlap())
    top, bottom = fig.axes
    assert [line.get_label() for line in top.get_lines()] == ["load", "capacity 1"]
    assert list(bottom.get_lines()[0].get_ydata()) == [1.0, 0.5, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="no database"):
        database_load(simbatch.simulate(scenario()))


# ---- calibration ---------------------------------------------------------------------------------

def contended_history(capacity: float, seed: int, days: int = 6) -> simbatch.History:
    """A history written by a processor-sharing database of ``capacity``, independent of the
    engine: Poisson runs of three task classes (lognormal work, medians 2, 5 and 9 minutes),
    as many threads as needed, arrivals four times as dense 22:00-02:00 as otherwise.
    Each executing task progresses at min(1, capacity / n); times are kept in whole seconds,
    as F&O keeps them.
    """
    rng = np.random.default_rng(seed)
    medians = [120.0, 300.0, 540.0]
    horizon = days * 86_400.0

    def rate(t: float) -> float:  # runs per second
        return (4.0 if (t % 86_400) < 4 * 3600 else 1.0) * 0.8 / 330.0

    arrivals, t = [], 0.0
    while t < horizon:  # thinning of a Poisson process with the top rate
        t += rng.exponential(330.0 / 3.2)
        if rng.random() < rate(t) / (3.2 / 330.0):
            arrivals.append(t)
    klass = rng.integers(0, 3, len(arrivals))
    work = np.array(medians)[klass] * rng.lognormal(0.0, 0.4, len(arrivals))
    left: dict[int, float] = {}
    ended: dict[int, float] = {}
    now, k = 0.0, 0
    while k < len(arrivals) or left:
        speed = min(1.0, capacity / len(left)) if left else 1.0
        first = min(left, key=lambda i: left[i]) if left else None
        finish = now + left[first] / speed if first is not None else np.inf
        arrive = arrivals[k] if k < len(arrivals) else np.inf
        step = min(finish, arrive) - now
        for i in left:
            left[i] -= step * speed
        now += step
        if arrive <= finish:
            left[k] = float(work[k])
            k += 1
        else:
            assert first is not None
            del left[first]
            ended[first] = now
    origin = pd.Timestamp("2026-01-05 22:00", tz="UTC")
    jobs, tasks = [], []
    for i, at in enumerate(arrivals):
        start = origin + pd.Timedelta(seconds=round(at))
        end = origin + pd.Timedelta(seconds=round(ended[i]))
        jobs.append({"RecId": 1000 + i, "BatchJobId": 1 + int(klass[i]),
                     "Caption": f"Class {klass[i]}", "Status": 4, "OrigStartDateTime": start,
                     "StartDateTime": start, "EndDateTime": end})
        tasks.append({"BatchJobHistoryId": 1000 + i, "BatchJobId": 1 + int(klass[i]),
                      "BatchId": 10 + int(klass[i]), "Caption": "Work", "Status": 4,
                      "StartDateTime": start, "EndDateTime": end, "retryCount": 0})
    return simbatch.History.from_tables(pd.DataFrame(jobs), pd.DataFrame(tasks),
                                        source="generated")


CAPACITY_TOLERANCE = 0.5
"""The fitted capacity must be within half a task of the generator's (12.5% of 4): the
history follows the model exactly apart from whole seconds, so what is left is the noise
of a few thousand lognormal works."""


@pytest.mark.parametrize("seed", [1, 2])
def test_calibration_recovers_the_capacity_of_a_contended_history(seed: int) -> None:
    from simbatch.history.calibration.contention import fit_contention

    history = contended_history(4.0, seed)
    verdict = fit_contention(history)
    assert verdict.capacity is not None, verdict.evidence
    assert abs(verdict.capacity - 4.0) <= CAPACITY_TOLERANCE, verdict.evidence
    calibration = simbatch.calibrate(history)
    assert calibration.document["database"] == {"capacity": verdict.capacity}
    assert "Spearman" in calibration.text.split("database:")[1].splitlines()[0]
    assert calibration.scenario().database is not None


def test_an_uncontended_history_writes_no_database() -> None:
    history = contended_history(np.inf, 3)
    calibration = simbatch.calibrate(history)
    assert "database" not in calibration.document
    assert "no contention evident in this history (Spearman's rho" in calibration.text


def test_calibrated_durations_are_the_work_with_contention_taken_out() -> None:
    # medians 120, 300 and 540 s of lognormal work (sigma 0.4); ~640 runs a class: the
    # sample median's standard error is about 1.25 x 0.4 / sqrt(640) = 2%, so 3 SE = 6%
    from simbatch.history.calibration.contention import database_section

    history = contended_history(4.0, 1)
    notes: list[str] = []
    alone, database = database_section(history, notes)
    assert database is not None and notes == []
    tasks = alone.tasks
    seconds = (tasks.end - tasks.start).dt.total_seconds()
    medians = seconds.groupby(tasks.job.astype(str)).median()
    for k, median in enumerate([120.0, 300.0, 540.0]):
        assert abs(medians[f"Class {k}"] / median - 1) <= 0.06, medians
    observed = (history.tasks.end - history.tasks.start).dt.total_seconds()
    # the stretched durations themselves would fail that tolerance
    assert observed.groupby(history.tasks.job.astype(str)).median()["Class 2"] > 1.06 * 540


# ---- sweeps and plans ---------------------------------------------------------------------------

def night(threads: int = 8) -> dict[str, Any]:
    """16 parallel tasks of 10 minutes' work on one server, a database of capacity 4."""
    return {"start": "2026-01-05 22:00", "horizon": "1d", "polling": 0,
            "servers": {"S": {"threads": threads}}, "database": {"capacity": 4},
            "jobs": {"Night": {"tasks": {f"T{i}": {"duration": "10m"} for i in range(16)}}}}


def test_a_thread_sweep_shows_where_threads_stop_helping() -> None:
    table = simbatch.sweep(night(), {"servers.S.threads": [2, 4, 8, 16]})
    # the night: 16 x 10 minutes of work through 2 threads, then through the database's 4
    assert list(table["job_duration_mean_s[all]"]) == [4800.0, 2400.0, 2400.0, 2400.0]
    # past 4 threads every task is slower: contention takes 0, 0, 1/2, 3/4 of their time
    assert list(table["db_lost_share[all]"]) == [0.0, 0.0, 0.5, 0.75]
    assert list(table["db_saturation_tasks[all]"]) == [4.0] * 4


def test_a_plan_says_when_threads_past_saturation_do_not_help() -> None:
    found = simbatch.plan(night(), {"servers.S.threads": range(1, 17)},
                          ["job_duration_mean <= 30m"], replications=2)
    assert not found.met  # 40 minutes at best: no thread count meets 30
    said = [n for n in found.notes if n.startswith("the database saturates")]
    assert len(said) == 1
    assert "above about 4 concurrent tasks more threads lengthen every task" in said[0]
    assert said[0].endswith("the choice is past that point, so limiting concurrency"
                            " (max_concurrency) may meet the targets with fewer threads")
    met = simbatch.plan(night(), {"servers.S.threads": range(1, 17)},
                        ["job_duration_mean <= 45m"], replications=2)
    assert met.choice == {"servers.S.threads": 4}
    assert not any("choice is past" in n for n in met.notes)


def test_a_load_without_a_database_is_warned_about() -> None:
    doc_ = scenario(jobs={"J": {"tasks": {"T": {"duration": "5m", "load": 2}}}})
    with pytest.warns(simbatch.SimbatchWarning, match=r"jobs\.J\.tasks\.T\.load: a load has"
                      r" no effect without a database"):
        simbatch.load(doc_)


def test_the_tasks_csv_writes_work_in_seconds(tmp_path: Any) -> None:
    from simbatch.results.csv import write_csv

    write_csv(overlap(), tmp_path)
    table = pd.read_csv(tmp_path / "tasks.csv")
    assert list(table.columns[table.columns.get_loc("duration"):][:2]) == ["duration", "work"]
    assert table.set_index("task").work.to_dict() == {"A": 600.0, "Z": 600.0, "D": 600.0}


def test_run_prints_the_database_and_its_finding(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from simbatch.cli.main import main

    assert main(["run", "scenarios/tenant-week-database.yaml", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Database (shared; capacity 24 load units)"):]
    assert section.splitlines()[1].startswith("Above 22 concurrent tasks the database is"
                                              " saturated: more threads lengthen every task.")
    assert main(["run", "scenarios/walkthrough.yaml", "--out", str(tmp_path)]) == 0
    assert "Database" not in capsys.readouterr().out
