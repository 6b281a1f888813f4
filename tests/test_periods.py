"""Thread limits by time of day: never exceeded at a pickup, never pre-empting."""

from __future__ import annotations

import pandas as pd

import simbatch


def concurrency_at_starts(tasks: pd.DataFrame, server: str) -> list[tuple[pd.Timestamp, int]]:
    """For each start on ``server``, how many of its attempts run just after it."""
    mine = tasks[tasks.server == server]
    ends = mine.end.fillna(pd.Timestamp.max.tz_localize("UTC"))
    return [(s, int(((mine.start <= s) & (ends > s)).sum())) for s in mine.start]


def day_night(**extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "start": "2026-01-05 06:00", "horizon": "2d", "polling": "1m",
        "platform": "on-premises",
        "servers": {"AOS1": {"threads": 8, "poll_offset": "0s", "periods": [
            {"from": "08:00", "to": "18:00", "threads": 2},
            {"from": "18:00", "to": "07:30", "threads": 20},
        ]}},
        "jobs": {"Load": {"arrivals": {"interval": {"exponential": "1m"}},
                          "tasks": {"Work": {"duration": {"exponential": "15m"}}}}},
    }
    doc.update(extra)
    return doc


def test_limit_never_exceeded_at_any_pickup() -> None:
    result = simbatch.simulate(day_night(), seed=3)
    tasks = result.tasks
    limit = {"day": 2, "night": 20, "gap": 8}
    assert len(tasks) > 1000
    for start, running in concurrency_at_starts(tasks, "AOS1"):
        minute = start.hour * 60 + start.minute
        phase = ("day" if 480 <= minute < 1080 else
                 "gap" if 450 <= minute < 480 else "night")
        # at a pickup the running count may exceed the limit only by tasks that started
        # before the limit dropped; a pickup itself needs busy < limit, so the new task
        # brings the count to at most the limit
        assert running <= limit[phase], (start, running, phase)


def test_lowering_the_limit_does_not_cut_running_tasks() -> None:
    result = simbatch.simulate(day_night(), seed=3)
    tasks = result.tasks
    done = tasks[tasks.status.isin(["Ended", "Error"])]
    at_eight = pd.Timestamp("2026-01-05 08:00", tz="UTC")
    crossing = done[(done.start < at_eight) & (done.end > at_eight)]
    assert len(crossing) > 2  # more than the new limit of 2 kept running past 08:00
    # each ran its full sampled duration: the same attempts under a flat limit of 20
    # (same seed, so the same samples) last exactly as long
    flat = simbatch.simulate(day_night(servers={"AOS1": {"threads": 20, "poll_offset": "0s"}}),
                             seed=3).tasks.set_index(["job", "run", "task", "attempt"])
    for row in crossing.itertuples():
        assert flat.loc[(row.job, row.run, row.task, row.attempt), "duration"] == row.duration
    # and no pickup happened while busy >= 2
    for start, running in concurrency_at_starts(tasks, "AOS1"):
        if at_eight <= start < at_eight + pd.Timedelta("10h"):
            assert running <= 2


def test_added_threads_pick_up_at_the_next_poll() -> None:
    # 1 thread until 12:00:10, then 3. Three 1h tasks are ready at 12:00. The extra threads
    # pick up at the server's first poll after the period starts (12:01:00).
    doc = {
        "start": "2026-01-05 12:00", "horizon": "3h", "polling": "1m",
        "servers": {"S": {"threads": 1, "poll_offset": "0s",
                          "periods": [{"from": "12:00:10", "to": "23:00", "threads": 3}]}},
        "jobs": {"J": {"tasks": {"A": {"duration": "1h"}, "B": {"duration": "1h"},
                                 "C": {"duration": "1h"}}}},
    }
    starts = simbatch.simulate(doc).tasks.start.dt.strftime("%H:%M:%S").tolist()
    assert starts == ["12:00:00", "12:01:00", "12:01:00"]


def test_utilization_uses_what_the_periods_allow() -> None:
    doc = {
        "start": "2026-01-05 00:00", "horizon": "1d", "polling": 0,
        "servers": {"S": {"threads": 4, "periods": [
            {"from": "08:00", "to": "20:00", "threads": 1}]}},
        "jobs": {"J": {"tasks": {"T": {"duration": "6h"}}}},
    }
    util = simbatch.simulate(doc).utilization().iloc[0]
    assert util.available_thread_seconds == (12 * 4 + 12 * 1) * 3600
    assert util.busy_thread_seconds == 6 * 3600
    assert util.utilization == 6 / 60


def test_periods_follow_the_scenario_zone_across_daylight_saving() -> None:
    # Europe/Amsterdam moves clocks forward on 2026-03-29: the 18:00-07:30 night period
    # from the 28th to the 29th lasts 12.5 h, not 13.5 h.
    doc = {
        "start": "2026-03-28 12:00", "timezone": "Europe/Amsterdam", "horizon": "1d",
        "polling": 0, "platform": "on-premises",
        "servers": {"S": {"threads": 2, "periods": [
            {"from": "18:00", "to": "07:30", "threads": 20}]}},
        "jobs": {},
    }
    cap = simbatch.simulate(doc).capacity
    night = cap[cap.threads == 20].start.iloc[0]
    after = cap[(cap.threads == 2) & (cap.start > night)].start.iloc[0]
    assert after - night == pd.Timedelta("12h30m")
    assert night.strftime("%H:%M") == "18:00" and after.strftime("%H:%M") == "07:30"


def test_a_period_bound_in_the_spring_gap_falls_when_the_clocks_jump() -> None:
    # 22:00-02:30 on the night of 28-29 March (Amsterdam): 02:30 never happens, so the
    # period ends when the clocks jump from 02:00 to 03:00, after 4 hours
    doc = {"start": "2026-03-28 20:00", "timezone": "Europe/Amsterdam", "horizon": "12h",
           "polling": 0, "servers": {"A": {"threads": 0, "periods": [
               {"from": "22:00", "to": "02:30", "threads": 1}]}},
           "jobs": {"J": {"tasks": {"T": {"duration": "1m"}}}}}
    result = simbatch.simulate(doc)
    ends = result.capacity[result.capacity.threads == 0].start
    assert ends.iloc[-1].strftime("%H:%M%z") == "03:00+0200"
    assert result.utilization().available_thread_seconds.iloc[0] == 4 * 3600


def test_a_limit_that_falls_under_a_running_task_comes_back_when_it_rises() -> None:
    # AOS1 is full when its limit falls to 0 at 23:30; its task ends at 23:40 (no thread
    # free then), and the limit rises at 00:40: the waiting task starts at the first poll
    # after the rise (poll offset 15 s), not later and not on the way down.
    doc = {"start": "2026-01-05 23:00", "horizon": "3h", "polling": "1m",
           "servers": {"AOS1": {"threads": 1, "poll_offset": "15s", "periods": [
               {"from": "23:30", "to": "00:40", "threads": 0}]}},
           "jobs": {"First": {"start": "2026-01-05 23:20",
                              "tasks": {"Long": {"duration": "20m"}}},
                    "Second": {"start": "2026-01-05 23:25",
                               "tasks": {"Short": {"duration": "1m"}}}}}
    tasks = simbatch.simulate(doc).tasks.set_index("job")
    assert tasks.loc["First", "start"] == pd.Timestamp("2026-01-05 23:20:15", tz="UTC")
    assert tasks.loc["Second", "start"] == pd.Timestamp("2026-01-06 00:40:15", tz="UTC")


def test_a_server_whose_limit_fell_while_idle_passes_the_work_to_the_next() -> None:
    # AOS1 and AOS2 poll together; AOS1's limit falls to 0 at 23:30 while it is idle. The
    # task due at 23:30:30 starts on AOS2 at their next poll, 23:31, not a poll later.
    doc = {"start": "2026-01-05 23:00", "horizon": "1h", "polling": "1m",
           "servers": {"AOS1": {"threads": 1, "poll_offset": 0, "periods": [
                           {"from": "23:30", "to": "23:59", "threads": 0}]},
                       "AOS2": {"threads": 1, "poll_offset": 0}},
           "jobs": {"J": {"start": "2026-01-05 23:30:30", "tasks": {"T": {"duration": "1m"}}}}}
    task = simbatch.simulate(doc).tasks.iloc[0]
    assert (task.server, task.start) == ("AOS2", pd.Timestamp("2026-01-05 23:31", tz="UTC"))
