"""Today's platform (F&O 10.0.38 and later): the defaults, restarts, maintenance, transient
retries, each on a small scenario with an exact expected log."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import simbatch
from tests.conftest import log


def one_task(duration: str = "30m", **task: Any) -> dict[str, Any]:
    return {"start": "2026-01-05 22:00", "horizon": "4h", "polling": "1m",
            "servers": {"S1": {"threads": 1, "poll_offset": "0s"}},
            "jobs": {"J": {"tasks": {"T": {"duration": duration, **task}}}}}


def causes(result: simbatch.Result) -> list[object]:
    return [None if pd.isna(c) else c for c in result.tasks.cause]


def test_priority_scheduling_and_the_cloud_are_the_defaults() -> None:
    scenario = simbatch.load(one_task())
    assert (scenario.scheduling, scenario.platform) == ("priority", "cloud")
    with pytest.raises(simbatch.ScenarioError, match="exceed the cloud maximum of 16"):
        simbatch.load({**one_task(), "servers": {"S1": {"threads": 17}}})
    on_premises = simbatch.load({**one_task(), "platform": "on-premises",
                                 "servers": {"S1": {"threads": 20}}})
    assert on_premises.servers[0].threads == 20


def test_a_restart_ends_the_attempt_and_consumes_a_retry() -> None:
    doc = one_task(retries=1)
    doc["outages"] = [{"server": "S1", "at": "2026-01-05 22:10", "for": "20m"}]
    result = simbatch.simulate(doc)
    # killed at 22:10; Ready again at once, but S1 is down until 22:30 and takes it at its
    # first poll after coming back
    assert log(result) == [("T", 1, "Error", "S1", "22:00:00", "22:10:00"),
                           ("T", 2, "Ended", "S1", "22:30:00", "23:00:00")]
    assert causes(result) == ["restart", None]
    assert result.jobs.status.tolist() == ["Ended"]
    outages = result.outages
    assert outages[["server", "kind"]].values.tolist() == [["S1", "outage"]]
    cap = result.capacity
    assert [(r.start.strftime("%H:%M"), r.threads) for r in cap.itertuples()] == [
        ("22:00", 1), ("22:10", 0), ("22:30", 1)]


def test_without_retries_a_restart_fails_the_job() -> None:
    doc = one_task()
    doc["outages"] = [{"server": "S1", "at": "2026-01-05 22:10", "for": "20m"}]
    result = simbatch.simulate(doc)
    assert log(result) == [("T", 1, "Error", "S1", "22:00:00", "22:10:00")]
    assert result.jobs.status.tolist() == ["Error"]


def test_under_priority_scheduling_the_other_servers_carry_on() -> None:
    doc = one_task(retries=1)
    doc["servers"]["S2"] = {"threads": 1, "poll_offset": "30s"}
    doc["outages"] = [{"server": "S1", "at": "2026-01-05 22:10", "for": "20m"}]
    result = simbatch.simulate(doc)
    assert log(result) == [("T", 1, "Error", "S1", "22:00:00", "22:10:00"),
                           ("T", 2, "Ended", "S2", "22:10:30", "22:40:30")]


def test_an_attempt_that_ends_as_its_server_goes_down_has_ended() -> None:
    doc = one_task(duration="10m")
    doc["outages"] = [{"server": "S1", "at": "2026-01-05 22:10", "for": "20m"}]
    result = simbatch.simulate(doc)
    assert log(result) == [("T", 1, "Ended", "S1", "22:00:00", "22:10:00")]
    assert causes(result) == [None]


def test_utc_maintenance_windows_move_on_the_local_clock_across_daylight_saving() -> None:
    # Friday windows from 22:00 UTC: 23:00 in Amsterdam in winter, 00:00 after 29 March
    doc = {"start": "2026-03-20 12:00", "timezone": "Europe/Amsterdam", "horizon": "15d",
           "servers": {"S1": {"threads": 2}, "S2": {"threads": 2}},
           "maintenance": [{"days": ["fri"], "from": "22:00", "to": "04:00", "timezone": "UTC",
                            "down": "30m"}],
           "jobs": {}}
    outages = simbatch.simulate(doc).outages.sort_values("start")
    got = [(r.server, r.start.strftime("%m-%d %H:%M"), r.end.strftime("%H:%M"))
           for r in outages.itertuples()]
    assert got == [("S1", "03-20 23:00", "23:30"), ("S2", "03-20 23:30", "00:00"),
                   ("S1", "03-27 23:00", "23:30"), ("S2", "03-27 23:30", "00:00"),
                   ("S1", "04-04 00:00", "00:30"), ("S2", "04-04 00:30", "01:00")]


def test_a_local_maintenance_window_in_the_spring_gap_opens_when_the_clocks_jump() -> None:
    doc = {"start": "2026-03-28 12:00", "timezone": "Europe/Amsterdam", "horizon": "1d",
           "servers": {"S1": {"threads": 2}, "S2": {"threads": 2}, "S3": {"threads": 2}},
           "maintenance": [{"days": ["sun"], "from": "02:30", "to": "06:00",
                            "timezone": "Europe/Amsterdam", "down": "20m",
                            "servers": ["S3", "S1"], "stagger": "one-at-a-time"}],
           "jobs": {}}
    outages = simbatch.simulate(doc).outages.sort_values("start")
    got = [(r.server, r.start.strftime("%H:%M %Z"), r.end.strftime("%H:%M")) for r in
           outages.itertuples()]
    # 02:30 does not exist on 29 March: the window opens at the jump, 03:00 CEST; the
    # servers go in the order listed, and S2 is left alone
    assert got == [("S3", "03:00 CEST", "03:20"), ("S1", "03:20 CEST", "03:40")]


def test_all_at_once_takes_every_server_down_together() -> None:
    doc = {"start": "2026-01-05 12:00", "horizon": "1d",
           "servers": {"S1": {"threads": 2}, "S2": {"threads": 2}},
           "maintenance": [{"from": "22:00", "to": "23:00", "down": "30m",
                            "stagger": "all-at-once"}],
           "jobs": {}}
    outages = simbatch.simulate(doc).outages
    assert sorted((r.server, r.start.strftime("%H:%M")) for r in outages.itertuples()) == [
        ("S1", "22:00"), ("S2", "22:00")]


@pytest.mark.parametrize(("at", "held"), [(0.5, 8 * 50 + 509), (0.0, 509), (1.0, 8 * 100 + 509)])
def test_transient_errors_back_off_5_8_16_seconds_up_to_5_minutes_on_the_same_thread(
        at: float, held: int) -> None:
    # every try fails: eight tries, seven back-offs (5 + 8 + 16 + 32 + 64 + 128 + 256 s =
    # 509 s), then an ordinary Error that uses the task's one retry
    doc = one_task(duration="100s", retries=1, transient={"chance": 1, "at": at})
    result = simbatch.simulate(doc)
    tasks = result.tasks
    assert tasks.attempt.tolist() == [1, 2]  # transient tries are not retries
    assert causes(result) == ["transient", "transient"]
    assert (tasks.duration == pd.Timedelta(seconds=held)).all()
    assert tasks.start.iloc[1] == tasks.end.iloc[0]


def test_transient_tries_that_get_through_cost_their_back_offs() -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": "1d", "polling": 0,
           "servers": {"S1": {"threads": 16}},
           "jobs": {"J": {"arrivals": {"interval": "1m"}, "tasks": {"T": {
               "duration": "100s", "transient": {"chance": 0.5, "at": 0.5}}}}}}
    tasks = simbatch.simulate(doc, seed=3).tasks.dropna(subset=["end"])
    backoffs = [5, 8, 16, 32, 64, 128, 256]
    possible = {k * 50 + sum(backoffs[:k]) + 100 for k in range(8)}
    seconds = tasks.duration.dt.total_seconds()
    ended = tasks[tasks.status == "Ended"]
    assert set(ended.duration.dt.total_seconds()) <= possible
    # a try gets through with chance 1/2: about half the attempts had no transient error
    first = (seconds == 100).mean()
    assert len(tasks) > 1000 and abs(first - 0.5) < 4 * (0.25 / len(tasks)) ** 0.5
    # one in 2^8 gives up after eight tries
    assert set(tasks[tasks.status == "Error"].cause) <= {"transient"}


def test_transient_draws_are_common_random_numbers() -> None:
    doc = one_task(duration="100s", transient={"chance": 0.5})
    doc["jobs"]["J"]["arrivals"] = {"interval": "5m"}
    wide = {**doc, "servers": {"S1": {"threads": 4}, "S2": {"threads": 4}}}
    a = simbatch.simulate(doc, seed=7).tasks.set_index(["run", "attempt"]).duration
    b = simbatch.simulate(wide, seed=7).tasks.set_index(["run", "attempt"]).duration
    both = a.dropna().index.intersection(b.dropna().index)
    assert len(both) > 30 and (a[both] == b[both]).all()


# ---- platform-managed capacity (capacity:) ------------------------------------------------

def platform(capacity: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"start": "2026-01-05 22:00", "horizon": "2h", "polling": 0, "capacity": capacity,
            **more, "jobs": {"J": {"tasks": {"T": {"duration": "5m"}}}}}


def layout(scenario: simbatch.Scenario) -> list[tuple[str, int, list[tuple[int, int, int]]]]:
    return [(s.name, s.threads, [(p.start, p.end, p.threads) for p in s.periods])
            for s in scenario.servers]


@pytest.mark.parametrize(("capacity", "servers", "each"), [
    ({"threads": 48}, 6, 8),                 # 48 threads: 8 a server by default, 6 servers
    ({"servers": 6}, 6, 8),                  # 6 servers of 8 threads
    ({"threads": 48, "servers": 7}, 7, 7),   # scaled out: 7 x 7 = 49
    ({"threads": 48, "servers": 4}, 4, 12),  # scaled in: 4 x 12 = 48
    ({"threads": 100, "servers": 2}, 7, 15),  # past 16 a server the platform adds servers
])
def test_platform_capacity_spreads_the_total_over_servers(capacity: dict[str, Any],
                                                          servers: int, each: int) -> None:
    built = layout(simbatch.load(platform(capacity)))
    assert built == [(f"Batch{k}", each, []) for k in range(1, servers + 1)]


def test_platform_scaling_windows_keep_the_total_about_constant() -> None:
    scenario = simbatch.load(platform({"threads": 48, "scale": [
        {"from": "22:00", "to": "06:00", "servers": 7},
        {"from": "08:00", "to": "12:00", "servers": 4}]}))
    night, morning = (79_200, 21_600), (28_800, 43_200)
    assert layout(scenario) == (
        [(f"Batch{k}", 8, [(*night, 7), (*morning, 12)]) for k in range(1, 5)]
        + [(f"Batch{k}", 8, [(*night, 7), (*morning, 0)]) for k in (5, 6)]
        + [("Batch7", 0, [(*night, 7), (*morning, 0)])])


def test_a_removed_server_finishes_its_running_tasks() -> None:
    # 2 servers of 1 thread; from 22:10 the platform runs 1 server of 2 threads: Batch2's
    # task runs on to its end (drained, never killed), Batch1 takes T3 at once
    doc = platform({"threads": 2, "servers": 2,
                    "scale": [{"from": "22:10", "to": "23:00", "servers": 1}]})
    doc["jobs"] = {"J": {"tasks": {t: {"duration": "20m"} for t in ("T1", "T2", "T3")}}}
    tasks = simbatch.simulate(doc).tasks
    assert list(zip(tasks.task, tasks.server, tasks.status, tasks.start.dt.strftime("%H:%M"),
                    tasks.end.dt.strftime("%H:%M"), strict=True)) == [
        ("T1", "Batch1", "Ended", "22:00", "22:20"),
        ("T2", "Batch2", "Ended", "22:00", "22:20"),
        ("T3", "Batch1", "Ended", "22:10", "22:30")]


def test_reserved_capacity_takes_whole_platform_servers() -> None:
    from simbatch.scenario.spec import RESERVED_SHARES, dedicated

    high = RESERVED_SHARES["high"]  # 25%
    assert dedicated(high, [8] * 6) == {4, 5}      # 12 of 48 threads: 2 servers (16)
    assert dedicated(high, [7] * 7) == {5, 6}      # 12.25 of 49: 2 servers (14)
    assert dedicated(high, [12] * 4) == {3}        # 12 of 48: 1 server (12)
    scenario = simbatch.load(platform({"threads": 48}, reserved_capacity="high"))
    assert [s.threads for s in scenario.servers] == [8] * 6


@pytest.mark.parametrize(("doc", "message"), [
    (platform({}), "capacity: give the total batch threads"),
    (platform({"threads": 48, "scale": [{"from": "22:00", "to": "06:00", "servers": 2}]}),
     r"capacity.scale\[0\].servers: 48 threads on 2 servers is 24 a server, above the cloud"
     " maximum of 16; at least 3 servers"),
    (platform({"threads": 48, "max_servers": 5}),
     "capacity.servers: 6 servers is outside min_servers 5 .. max_servers 5"),
    (platform({"threads": 8}, platform="on-premises"), "list the servers"),
    ({**platform({"threads": 8}), "servers": {"S1": {}}}, "not both"),
    (platform({"threads": 16, "scale": [{"from": "22:00", "to": "06:00", "servers": 2},
                                        {"from": "05:00", "to": "07:00", "servers": 3}]}),
     r"capacity.scale\[1\]: this window overlaps scale window 0"),
    ({"start": "2026-01-05 22:00", "horizon": "1d", "jobs": {}}, "missing required key 'servers'"),
])
def test_platform_capacity_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(simbatch.ScenarioError, match=message):
        simbatch.load(doc)
