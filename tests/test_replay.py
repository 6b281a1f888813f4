"""The trace-driven replay hook of the engine: recorded attempts, simulated queueing only."""

from __future__ import annotations

import pytest

from simbatch import UsageError, load
from simbatch.engine.trace import ReplayModel, Trace, TraceRun, TraceTask
from simbatch.results.result import Result

S = 1_000_000_000
SCENARIO = {
    "start": "2026-01-05 22:00", "horizon": "1h", "polling": "1m", "scheduling": "priority",
    "servers": {"AOS1": {"threads": 1, "poll_offset": 0}},
    "jobs": {"A": {"tasks": {"T1": {"duration": "1m",
                                    "runtime": {"tasks": 1, "duration": "1m"}},
                             "T2": {"duration": "1m"}}}},
}
AFTER_T1 = ((0, "ended"),)
"""The trace's graph: T2 waits for T1 (the scenario's own graph is not used)."""


def _replay(runs: list[TraceRun]) -> Result:
    model = ReplayModel(load(SCENARIO), Trace(runs))
    model.run()
    return Result.from_model(model)


def test_recorded_attempts_replay_with_exact_starts() -> None:
    result = _replay([
        TraceRun(0, 0, {0: TraceTask([(90 * S, True), (30 * S, False)]),
                        1: TraceTask([(60 * S, False)], AFTER_T1)}),
        TraceRun(0, 30 * S, {0: TraceTask([(20 * S, False)]),
                             1: TraceTask([(60 * S, False)], AFTER_T1)}),
    ])
    tasks = result.tasks
    origin = load(SCENARIO).start
    got = [(r.run, r.task, r.attempt, r.status, (r.start - origin).total_seconds(),
            (r.end - origin).total_seconds()) for r in tasks.itertuples()]
    # one thread: the freed thread takes the oldest ready task (run 2's T1, ready at 30 s,
    # before run 1's retry, ready at 90 s)
    assert got == [
        (1, "T1", 1, "Error", 0.0, 90.0), (1, "T1", 2, "Ended", 110.0, 140.0),
        (1, "T2", 1, "Ended", 200.0, 260.0),
        (2, "T1", 1, "Ended", 90.0, 110.0), (2, "T2", 1, "Ended", 140.0, 200.0),
    ]
    assert list(result.jobs.status) == ["Ended", "Ended"]


def test_a_run_may_lack_tasks_and_carry_runtime_children() -> None:
    result = _replay([
        TraceRun(0, 0, {0: TraceTask([(60 * S, False)])},
                 runtime={0: [[(120 * S, False)], [(30 * S, True)]]}),
        TraceRun(0, 600 * S, {1: TraceTask([(10 * S, False)])}),
    ])
    got = [(r.run, r.task, r.status, (r.start - load(SCENARIO).start).total_seconds())
           for r in result.tasks.itertuples()]
    # run 1: T1 at 0 s adds two children, ready at once; the one thread takes them in
    # order once T1 ends. Run 2 has only T2, which waits for nothing.
    assert got == [(1, "T1", "Ended", 0.0), (1, "T1 #1", "Ended", 60.0),
                   (1, "T1 #2", "Error", 180.0), (2, "T2", "Ended", 600.0)]
    assert list(result.jobs.status) == ["Error", "Ended"]


def test_a_bad_trace_is_refused() -> None:
    with pytest.raises(UsageError, match="give at least one task"):
        _replay([TraceRun(0, 0, {})])
    with pytest.raises(UsageError, match="no job 3"):
        _replay([TraceRun(3, 0, {0: TraceTask([(S, False)])})])
    with pytest.raises(UsageError, match="waits for 0"):
        _replay([TraceRun(0, 0, {1: TraceTask([(S, False)], AFTER_T1)})])
    with pytest.raises(UsageError, match="adds no runtime tasks"):
        _replay([TraceRun(0, 0, {1: TraceTask([(S, False)])}, runtime={1: [[(S, False)]]})])


def test_an_any_task_is_ready_when_the_first_of_its_prerequisites_ends() -> None:
    scenario = {**SCENARIO, "polling": 0, "servers": {"AOS1": {"threads": 3}},
                "jobs": {"A": {"tasks": {"T1": {"duration": "1m"}, "T2": {"duration": "1m"},
                                         "T3": {"duration": "1m"}}}}}
    waits = ((0, "ended"), (1, "ended"))

    def starts(either: bool) -> float:
        model = ReplayModel(load(scenario), Trace([TraceRun(0, 0, {
            0: TraceTask([(60 * S, False)]), 1: TraceTask([(300 * S, False)]),
            2: TraceTask([(10 * S, False)], waits, either)})]))
        model.run()
        tasks = Result.from_model(model).tasks
        t3 = tasks[tasks["task"] == "T3"].iloc[0]
        return float((t3["start"] - load(scenario).start).total_seconds())

    assert starts(either=True) == 60  # T1 ended: enough under Any
    assert starts(either=False) == 300  # All: T2 too
