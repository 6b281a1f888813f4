"""Priority-based scheduling (10.0.38 onward), reserved capacity, concurrency, throttle."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

import simbatch

LEVELS = ["low", "normal", "high", "critical"]


def priority_doc(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "start": "2026-01-05 00:00", "horizon": "1d", "polling": 0,
        "scheduling": "priority",
        "servers": {"AOS1": {"threads": 4}},
        "groups": {name.capitalize(): {"priority": name} for name in LEVELS},
        "jobs": {f"{name.capitalize()} work": {
            "group": name.capitalize(), "arrivals": {"interval": "10s"},
            "tasks": {"Work": {"duration": "1m"}}} for name in LEVELS},
    }
    doc.update(extra)
    return doc


def running_at(tasks: pd.DataFrame, moment: pd.Timestamp) -> pd.DataFrame:
    ends = tasks.end.fillna(pd.Timestamp.max.tz_localize("UTC"))
    return tasks[(tasks.start <= moment) & (ends > moment)]


def test_share_of_picks_follows_the_weights_under_saturation() -> None:
    # every class always has work waiting, so every pick is a weighted draw: 5:10:15:30
    tasks = simbatch.simulate(priority_doc(), seed=4).tasks
    picks = tasks[tasks.start.notna()].groupby("group").size()
    total = picks.sum()
    assert total > 5000
    for name, weight in zip(LEVELS, (5, 10, 15, 30), strict=True):
        share = weight / 60
        sigma = math.sqrt(share * (1 - share) / total)
        assert abs(picks[name.capitalize()] / total - share) < 4 * sigma, (name, picks)


def test_low_work_progresses_under_steady_high_load() -> None:
    doc = priority_doc(jobs={
        "Low work": {"group": "Low", "arrivals": {"interval": "5m"},
                     "tasks": {"Work": {"duration": "1m"}}},
        "High work": {"group": "High", "arrivals": {"interval": "5s"},
                      "tasks": {"Work": {"duration": "1m"}}}})
    tasks = simbatch.simulate(doc, seed=1).tasks
    low = tasks[tasks.group == "Low"]
    assert low.status.eq("Ended").sum() > 200  # of ~288 runs, although High saturates
    assert tasks[tasks.group == "High"].status.eq("Ready").sum() > 1000


def test_a_job_priority_overrides_its_group() -> None:
    doc = priority_doc()
    doc["jobs"] = {name: doc["jobs"][name] for name in ("Low work", "High work")}
    doc["jobs"]["Low work"]["priority"] = "critical"  # now 30 against High's 15
    picks = simbatch.simulate(doc, seed=4).tasks.dropna(subset=["start"]).groupby("job").size()
    assert picks["Low work"] > 1.6 * picks["High work"]


def test_reserved_servers_run_only_reserved_work_and_are_never_lent() -> None:
    servers = {f"AOS{i:02d}": {"threads": 12} for i in range(1, 11)}
    doc = priority_doc(servers=servers, reserved_capacity="high")
    doc["groups"]["Urgent"] = {"priority": "reserved"}
    doc["jobs"]["Urgent work"] = {"group": "Urgent", "arrivals": {"interval": "20s"},
                                  "tasks": {"Work": {"duration": "15m"}}}
    scenario = simbatch.load(doc)
    # 25% of 120 threads = 30 threads: three whole servers, from the end of the file
    assert scenario.reserved_servers() == ("AOS08", "AOS09", "AOS10")
    tasks = simbatch.simulate(scenario, seed=2).tasks
    ran = tasks.dropna(subset=["server"])
    assert set(ran[ran.group == "Urgent"].server) == {"AOS08", "AOS09", "AOS10"}
    assert not set(ran[ran.group != "Urgent"].server) & {"AOS08", "AOS09", "AOS10"}
    # reserved work waits when its 36 threads are full even while the other 84 threads
    # are idle: 6 Urgent runs a minute of 15 minutes each keep ~90 threads busy
    quiet = priority_doc(servers=servers, reserved_capacity="high",
                         jobs={"Urgent work": {"group": "Urgent", "arrivals": {"interval": "10s"},
                                               "tasks": {"Work": {"duration": "15m"}}}})
    quiet["groups"]["Urgent"] = {"priority": "reserved"}
    quiet_tasks = simbatch.simulate(quiet, seed=2).tasks
    waited = quiet_tasks[quiet_tasks.wait > pd.Timedelta(0)]
    assert len(waited) > 100
    assert set(quiet_tasks.server.dropna()) == {"AOS08", "AOS09", "AOS10"}


def test_max_concurrency_is_never_exceeded_in_either_mode() -> None:
    for scheduling in ("affinity", "priority"):
        doc = {"start": "2026-01-05 00:00", "horizon": "6h", "polling": "1m",
               "scheduling": scheduling, "servers": {"A": {"threads": 16}},
               "groups": {"Planning": {"max_concurrency": 3}},
               "jobs": {"Plan": {"group": "Planning", "recurrence": {"every": "1h"},
                                 "tasks": {"Split": {"duration": "1m", "runtime": {
                                     "tasks": 20, "duration": {"exponential": "4m"}}},
                                     "Merge": {"duration": "2m", "after": {"Split": "ended"}}}}}}
        if scheduling == "affinity":
            doc["groups"]["Planning"]["servers"] = ["A"]
        tasks = simbatch.simulate(doc, seed=3).tasks.dropna(subset=["start"])
        assert len(tasks) > 60
        for (_job, _run), rows in tasks.groupby(["job", "run"]):
            for moment in rows.start:
                assert len(running_at(rows, moment)) <= 3, (scheduling, moment)


def test_a_paused_group_starts_nothing_new() -> None:
    doc = priority_doc(groups={"Low": {"priority": "low", "max_concurrency": -1},
                               "High": {"priority": "high"}},
                       jobs={"Held": {"group": "Low", "arrivals": {"interval": "30m"},
                                      "tasks": {"Work": {"duration": "1m"}}},
                             "Other": {"group": "High", "arrivals": {"interval": "30m"},
                                       "tasks": {"Work": {"duration": "1m"}}}})
    tasks = simbatch.simulate(doc).tasks
    held = tasks[tasks.group == "Low"]
    assert len(held) > 40 and held.start.isna().all() and set(held.status) == {"Ready"}
    assert tasks[tasks.group == "High"].status.eq("Ended").all()


def test_pausing_a_group_stops_its_tasks_in_any_job() -> None:
    # the limit belongs to the task's group, whatever the job's group is
    doc = {"start": "2026-01-05 00:00", "horizon": "2h", "polling": 0,
           "servers": {"A": {"threads": 8}},
           "groups": {"P": {"max_concurrency": -1, "servers": ["A"]},
                      "default": {"servers": ["A"]}},
           "jobs": {"K": {"tasks": {"A": {"duration": "10m"},
                                    "B": {"duration": "10m", "group": "P"}}},
                    "L": {"group": "P", "tasks": {"A": {"duration": "10m", "group": "default"}}}}}
    tasks = simbatch.simulate(doc).tasks.set_index(["job", "task"])
    assert tasks.loc[("K", "B"), "status"] == "Ready"  # in the paused group: held
    assert tasks.loc[("L", "A"), "status"] == "Ended"  # in default: runs
    assert tasks.loc[("K", "A"), "status"] == "Ended"


def test_throttle_holds_a_busy_class_back_and_lets_it_through_when_alone() -> None:
    hot = {"arrivals": {"interval": "0.5s"}, "tasks": {"Ping": {"duration": "1s",
                                                                "class": "Ping"}}}
    other = {"arrivals": {"interval": "5s"}, "tasks": {"Work": {"duration": "1s"}}}
    # two threads can start 120 one-second tasks a minute; 2 Hot arrivals a second
    # overload them, so Hot starts more than 60 times a minute and is held back
    base = {"start": "2026-01-05 00:00", "horizon": "10m", "polling": 0,
            "servers": {"A": {"threads": 2}}}
    both = simbatch.simulate({**base, "jobs": {"Hot": hot, "Other": other}}).tasks
    off = simbatch.simulate({**base, "throttle": False,
                             "jobs": {"Hot": hot, "Other": other}}).tasks
    alone = simbatch.simulate({**base, "jobs": {"Hot": hot}}).tasks
    # held back: Other no longer queues behind the older Hot backlog
    other_on = both[both.job == "Other"].wait.dropna()
    other_off = off[off.job == "Other"].wait.dropna()
    assert other_on.mean() < pd.Timedelta("2s") < other_off.mean()
    # the throttle reorders, it does not waste threads: Hot still runs at full rate when
    # nothing else waits, both threads busy all the time
    assert alone.start.notna().sum() >= 1190
    assert both.start.notna().sum() == off.start.notna().sum()


@pytest.mark.parametrize(("change", "message"), [
    ({"groups": {"Low": {"priority": "urgent"}}}, "groups.Low.priority: expected one of"),
    ({"reserved_capacity": "huge"}, "reserved_capacity: expected one of"),
    ({"groups": {"Low": {"max_concurrency": -2}}},
     "groups.Low.max_concurrency: must be greater than or equal to -1"),
    ({"groups": {"Low": {"max_concurrency": 1.5}}}, "expected a whole number"),
    ({"jobs": {"Low work": {"priority": "top"}}}, "jobs.Low work.priority: expected one of"),
    ({"groups": {"Low": {"priority": "reserved"}}}, "Reserved capacity work needs"),
    ({"reserved_capacity": "high", "servers": {"AOS1": {"threads": 4}}}, "would take every"),
    ({"scheduling": "affinity", "reserved_capacity": "low",
      "groups": {"Low": {"servers": ["AOS1"]}, "Normal": {"servers": ["AOS1"]},
                 "High": {"servers": ["AOS1"]}, "Critical": {"servers": ["AOS1"]}}},
     "reserved capacity belongs to priority scheduling"),
])
def test_invalid_priority_settings(change: dict[str, Any], message: str) -> None:
    base = simbatch.load(priority_doc())
    with pytest.raises(simbatch.ScenarioError) as raised:
        base.with_changes(change)
    assert message in str(raised.value)


def test_bindings_are_ignored_with_a_warning_under_priority() -> None:
    doc = priority_doc(servers={"A": {"threads": 2}, "B": {"threads": 2}})
    doc["groups"]["Low"]["servers"] = ["A"]
    with pytest.warns(simbatch.SimbatchWarning, match=r"groups\.Low\.servers: priority"
                                                      r" scheduling ignores"):
        result = simbatch.simulate(doc, seed=1)
    assert set(result.tasks[result.tasks.group == "Low"].server.dropna()) == {"A", "B"}
