"""Runtime tasks: children added when a task starts (addRuntimeTask), as the reference says."""

from __future__ import annotations

from typing import Any

import pandas as pd

import simbatch


def planning(tasks: Any = 4, threads: int = 8, **extra: Any) -> dict[str, Any]:
    return {
        "start": "2026-01-05 22:00", "horizon": "1d", "polling": 0, "scheduling": "affinity",
        "servers": {"S": {"threads": threads}},
        "groups": {"Planning": {"servers": ["S"]}},
        "jobs": {"Master planning": {"group": "Planning", "tasks": {
            "Plan": {"duration": "20m", "runtime": {"tasks": tasks, "duration": "30m", **extra}},
            "Report": {"duration": "5m", "after": {"Plan": "ended"}},
        }}},
    }


def test_children_are_counted_and_the_job_ends_after_the_last_child() -> None:
    result = simbatch.simulate(planning())
    tasks = result.tasks.set_index("task")
    children = [f"Plan #{k}" for k in range(1, 5)]
    assert list(tasks.index) == ["Plan", "Report", *children]
    assert (tasks.loc[children, "group"] == "Planning").all()
    # children are ready when the parent starts and run beside it
    assert (tasks.loc[children, "ready"] == tasks.loc["Plan", "start"]).all()
    # the parent's dependent starts when the parent ends, children still running
    assert tasks.loc["Report", "start"] == tasks.loc["Plan", "end"]
    assert (tasks.loc[children, "end"] > tasks.loc["Report", "end"]).all()
    job = result.jobs.iloc[0]
    assert job.tasks == 6
    assert job.end == tasks.loc[children, "end"].max()
    assert job.status == "Ended"


def test_sampled_child_counts_vary_by_run_within_the_range() -> None:
    doc = planning({"uniform": [2, 6]}, threads=16)
    doc["jobs"]["Master planning"]["arrivals"] = {"interval": "2h"}
    result = simbatch.simulate(doc, seed=5)
    counts = result.tasks[result.tasks.task.str.contains("#")].groupby("run").size()
    assert counts.between(2, 6).all()
    assert counts.nunique() > 1


def test_children_get_no_retries_and_a_failed_child_fails_the_job() -> None:
    result = simbatch.simulate(planning(2, fail=1))
    kids = result.tasks[result.tasks.task.str.contains("#")]
    assert kids.status.tolist() == ["Error", "Error"]
    assert kids.attempt.tolist() == [1, 1]
    assert result.jobs.status.tolist() == ["Error"]


def test_children_queue_for_threads_like_any_task() -> None:
    result = simbatch.simulate(planning(4, threads=2))
    tasks = result.tasks.set_index("task")
    # Plan and Plan #1 take the two threads at 22:00; Plan #2 waits for Plan to end at 22:20
    assert tasks.loc["Plan #2", "wait"] == pd.Timedelta("20m")


def test_every_run_of_a_scenario_has_the_same_task_categories() -> None:
    # the runtime-task count is drawn per run, yet the categorical task column holds every
    # child a task may add, so the tables of two replications concatenate as categoricals
    doc = planning(tasks={"uniform": [1, 12]})
    first, second = simbatch.simulate(doc, seed=0).tasks, simbatch.simulate(doc, seed=1).tasks
    assert first.task.nunique() != second.task.nunique()
    assert list(first.task.cat.categories) == list(second.task.cat.categories)
    assert "Plan #12" in first.task.cat.categories
    assert isinstance(pd.concat([first, second]).task.dtype, pd.CategoricalDtype)
