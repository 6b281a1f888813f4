"""Priority-based scheduling (10.0.38 onward), reserved capacity, concurrency, throttle."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from scipy import stats

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
        assert abs(picks[name.capitalize()] / total - share) < 3 * sigma, (name, picks)


WEIGHTS = {"low": 5, "normal": 10, "high": 15, "critical": 30, "reserved": 40}
"""The documented chance weights (fo-batch-facts: priority-based scheduling, 10.0.38)."""


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_share_of_picks_of_all_five_priorities_within_3_standard_errors(seed: int) -> None:
    # Reserved capacity is off, so Reserved work is one more weighted class. Every class
    # always has work waiting (a 10 s interval against 4 threads of 1 minute), so each pick
    # is an independent draw: the number of picks of a class is binomial, and its share is
    # within 3 standard errors of weight / 100 (each check fails a correct engine with
    # probability 0.27%, five of them about 1.3%; the seeds are fixed). All five together
    # pass a chi-square goodness-of-fit test at alpha 0.01. With ~17,000 picks, 3 SE is
    # 0.5 point for Low and 1.1 points for Reserved: a weight of 12 instead of 10 for
    # Normal (a 1.6 point shift of its share) fails.
    doc = priority_doc(horizon="3d")
    doc["groups"]["Reserved"] = {"priority": "reserved"}
    doc["jobs"]["Reserved work"] = {"group": "Reserved", "arrivals": {"interval": "10s"},
                                    "tasks": {"Work": {"duration": "1m"}}}
    tasks = simbatch.simulate(doc, seed=seed).tasks
    started = tasks[tasks.start.notna()]
    # saturation: every class still has work waiting at the end
    assert set(tasks[tasks.start.isna()].group) == {n.capitalize() for n in WEIGHTS}
    picks = started.groupby("group").size()
    total = int(picks.sum())
    assert total > 15_000
    for name, weight in WEIGHTS.items():
        share = weight / 100
        sigma = math.sqrt(share * (1 - share) / total)
        assert abs(picks[name.capitalize()] / total - share) < 3 * sigma, (name, picks)
    observed = [picks[n.capitalize()] for n in WEIGHTS]
    expected = [total * w / 100 for w in WEIGHTS.values()]
    assert stats.chisquare(observed, expected).pvalue > 0.01, picks


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


def reserved_on(result: simbatch.Result) -> pd.DataFrame:
    """Each attempt that started, with whether its server was dedicated at that moment."""
    cap = result.capacity.sort_values("start")
    ran = result.tasks.dropna(subset=["start"]).sort_values("start")
    joined = pd.merge_asof(ran, cap[["server", "start", "reserved"]], on="start",
                           by="server")
    return joined


def test_reserved_work_shares_the_threads_by_weight_and_runs_alone_on_dedicated_ones() -> None:
    servers = {f"AOS{i:02d}": {"threads": 12} for i in range(1, 11)}
    doc = priority_doc(servers=servers, reserved_capacity="high", horizon="3h",
                       jobs={"Normal work": {"group": "Normal", "arrivals": {"interval": "0.4s"},
                                             "tasks": {"Work": {"duration": "1m"}}}})
    doc["groups"]["Urgent"] = {"priority": "reserved"}
    doc["jobs"]["Urgent work"] = {"group": "Urgent", "arrivals": {"interval": "0.4s"},
                                  "tasks": {"Work": {"duration": "1m"}}}
    result = simbatch.simulate(doc, seed=2)
    # 25% of 120 threads = 30 threads: three whole servers, from the end of the file
    cap = result.capacity
    assert set(cap[cap.reserved].server) == {"AOS08", "AOS09", "AOS10"}
    runs = reserved_on(result)
    dedicated = runs[runs.reserved]
    assert set(dedicated.group) == {"Urgent"}  # never lent to other work
    # on the shared threads both classes always wait, so picks follow 40 : 10
    shared = runs[~runs.reserved]
    share = (shared.group == "Urgent").mean()
    sigma = math.sqrt(0.8 * 0.2 / len(shared))
    assert len(shared) > 5000 and abs(share - 0.8) < 3 * sigma, share


def test_reserved_work_never_waits_beside_idle_shared_threads() -> None:
    servers = {f"AOS{i:02d}": {"threads": 12} for i in range(1, 11)}
    doc = priority_doc(servers=servers, reserved_capacity="high",
                       jobs={"Urgent work": {"group": "Urgent", "arrivals": {"interval": "10s"},
                                             "tasks": {"Work": {"duration": "15m"}}}})
    doc["groups"]["Urgent"] = {"priority": "reserved"}
    tasks = simbatch.simulate(doc, seed=2).tasks
    # ~90 threads busy: more than the 36 dedicated ones, so the shared servers run it too
    assert set(tasks.server.dropna()) & {f"AOS{i:02d}" for i in range(1, 8)}
    assert tasks.wait.dropna().max() == pd.Timedelta(0)


def test_reserved_work_without_reserved_capacity_has_its_weight_alone() -> None:
    doc = priority_doc()
    doc["jobs"] = {name: doc["jobs"][name] for name in ("Critical work",)}
    doc["groups"]["Urgent"] = {"priority": "reserved"}
    doc["jobs"]["Urgent work"] = {"group": "Urgent", "arrivals": {"interval": "10s"},
                                  "tasks": {"Work": {"duration": "1m"}}}
    picks = simbatch.simulate(doc, seed=4).tasks.dropna(subset=["start"]).groupby("job").size()
    share = picks["Urgent work"] / picks.sum()  # 40 against Critical's 30
    sigma = math.sqrt(4 / 7 * 3 / 7 / picks.sum())
    assert abs(share - 4 / 7) < 3 * sigma, share


def test_the_dedicated_servers_follow_the_threads_available_at_each_moment() -> None:
    # AOS3 has no threads from 00:00 to 06:00. At night 8 threads are online and 25% is 2:
    # the last online server, AOS2, is dedicated. From 06:00 12 threads give 3: AOS3.
    doc = priority_doc(
        horizon="12h", reserved_capacity="high",
        servers={"AOS1": {"threads": 4}, "AOS2": {"threads": 4},
                 "AOS3": {"threads": 4, "periods": [{"from": "00:00", "to": "06:00",
                                                      "threads": 0}]}},
        jobs={"Normal work": {"group": "Normal", "arrivals": {"interval": "20s"},
                              "tasks": {"Work": {"duration": "1m"}}}})
    doc["groups"]["Urgent"] = {"priority": "reserved"}
    doc["jobs"]["Urgent work"] = {"group": "Urgent", "arrivals": {"interval": "30s"},
                                  "tasks": {"Work": {"duration": "1m"}}}
    result = simbatch.simulate(doc, seed=1)
    cap = result.capacity
    rows = [(r.server, r.start.strftime("%H:%M"), r.threads, r.reserved)
            for r in cap.itertuples()]
    assert rows == [("AOS1", "00:00", 4, False),
                    ("AOS2", "00:00", 4, True), ("AOS2", "06:00", 4, False),
                    ("AOS3", "00:00", 0, False), ("AOS3", "06:00", 4, True)]
    runs = reserved_on(result)
    assert set(runs[runs.reserved].group) == {"Urgent"}
    normal = runs[runs.group == "Normal"]
    night = normal.start.dt.hour < 6
    assert set(normal[night].server) == {"AOS1"} and set(normal[~night].server) == {"AOS1",
                                                                                    "AOS2"}


def test_max_concurrency_is_never_exceeded() -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": "6h", "polling": "1m",
           "scheduling": "priority", "servers": {"A": {"threads": 16}},
           "groups": {"Planning": {"max_concurrency": 3}},
           "jobs": {"Plan": {"group": "Planning", "recurrence": {"every": "1h"},
                             "tasks": {"Split": {"duration": "1m", "runtime": {
                                 "tasks": 20, "duration": {"exponential": "4m"}}},
                                 "Merge": {"duration": "2m", "after": {"Split": "ended"}}}}}}
    tasks = simbatch.simulate(doc, seed=3).tasks.dropna(subset=["start"])
    assert len(tasks) > 60
    for (_job, _run), rows in tasks.groupby(["job", "run"]):
        for moment in rows.start:
            assert len(running_at(rows, moment)) <= 3, moment


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


def test_the_throttle_counts_starts_on_each_server_not_tenant_wide() -> None:
    # four one-thread servers and 1.2 s tasks: no server can start more than 50 a minute,
    # so the class is never held, although the tenant starts ~150 a minute in all
    hot = {"arrivals": {"interval": "0.4s"}, "tasks": {"Ping": {"duration": "1.2s",
                                                                "class": "Ping"}}}
    other = {"arrivals": {"interval": "5s"}, "tasks": {"Work": {"duration": "1s"}}}
    base = {"start": "2026-01-05 00:00", "horizon": "10m", "polling": 0,
            "servers": {f"S{i}": {"threads": 1} for i in range(4)},
            "jobs": {"Hot": hot, "Other": other}}
    on = simbatch.simulate(base).tasks
    off = simbatch.simulate({**base, "throttle": False}).tasks
    pd.testing.assert_frame_equal(on, off)
    starts = on[on.job == "Hot"].start.dropna()
    assert starts.dt.floor("min").value_counts().max() > 120  # tenant-wide per minute


@pytest.mark.parametrize(("change", "message"), [
    ({"groups": {"Low": {"priority": "urgent"}}}, "groups.Low.priority: expected one of"),
    ({"reserved_capacity": "huge"}, "reserved_capacity: expected one of"),
    ({"groups": {"Low": {"max_concurrency": -2}}},
     "groups.Low.max_concurrency: must be greater than or equal to -1"),
    ({"groups": {"Low": {"max_concurrency": 1.5}}}, "expected a whole number"),
    ({"jobs": {"Low work": {"priority": "top"}}}, "jobs.Low work.priority: expected one of"),
    ({"groups": {"Low": {"servers": ["AOS1"]}}},
     "groups.Low.servers: binding a group to servers is group affinity"),
    ({"groups": {"Low": {"max_concurrency": 2}}, "scheduling": "affinity"},
     "max concurrency (batch concurrency control) needs priority-based scheduling"),
    ({"jobs": {"Low work": {"tasks": {"Work": {"group": "High"}}}}},
     "jobs.Low work.tasks.Work.group: under priority scheduling a task's group is its job's"),
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


def test_one_server_leaves_reserved_capacity_nothing_to_dedicate() -> None:
    base = simbatch.load(priority_doc())
    with pytest.warns(simbatch.SimbatchWarning, match="dedicates no server"):
        scenario = base.with_changes({"reserved_capacity": "high"})
    assert not simbatch.simulate(scenario).capacity.reserved.any()
