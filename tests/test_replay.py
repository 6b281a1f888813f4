"""The trace-driven replay hook of the engine: recorded attempts, simulated queueing only."""

from __future__ import annotations

import pytest

from simbatch import UsageError, load
from simbatch.engine.trace import ReplayModel, Trace, TraceRun
from simbatch.results import Result

S = 1_000_000_000
SCENARIO = {
    "start": "2026-01-05 22:00", "horizon": "1h", "polling": "1m", "scheduling": "priority",
    "servers": {"AOS1": {"threads": 1, "poll_offset": 0}},
    "jobs": {"A": {"tasks": {"T1": {"duration": "1m"},
                             "T2": {"duration": "1m", "after": {"T1": "ended"}}}}},
}


def _replay(runs: list[TraceRun]) -> Result:
    model = ReplayModel(load(SCENARIO), Trace(runs))
    model.run()
    return Result.from_model(model)


def test_recorded_attempts_replay_with_exact_starts() -> None:
    result = _replay([
        TraceRun(0, 0, {0: [(90 * S, True), (30 * S, False)], 1: [(60 * S, False)]}),
        TraceRun(0, 30 * S, {0: [(20 * S, False)], 1: [(60 * S, False)]}),
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


def test_a_trace_must_give_every_task() -> None:
    with pytest.raises(UsageError, match="each of its 2 tasks"):
        _replay([TraceRun(0, 0, {0: [(S, False)]})])
    with pytest.raises(UsageError, match="no job 3"):
        _replay([TraceRun(3, 0, {0: [(S, False)], 1: [(S, False)]})])
