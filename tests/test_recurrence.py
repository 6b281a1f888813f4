"""Recurrence as the F&O dialog and cron define it: slots, skipping, ranges, drift, windows."""

from __future__ import annotations

from typing import Any

import pandas as pd

import simbatch


def recurring(recurrence: dict[str, Any], *, duration: Any = "10m", start: str = "2026-01-05 00:00",
              horizon: str = "1d", polling: Any = 0, **job: Any) -> dict[str, Any]:
    return {
        "start": start, "horizon": horizon, "polling": polling,
        "servers": {"S": {"threads": 4, **({"poll_offset": "30s"} if polling else {})}},
        "jobs": {"Nightly": {"recurrence": recurrence, **job,
                             "tasks": {"Work": {"duration": duration}}}},
    }


def clock(series: pd.Series, fmt: str = "%H:%M") -> list[str]:
    return series.dt.strftime(fmt).tolist()


def test_next_run_is_the_next_slot_after_the_run_ends_and_missed_slots_are_counted() -> None:
    jobs = simbatch.simulate(recurring({"every": "1h"}, duration="2h30m", horizon="10h")).jobs
    # 00:00 runs until 02:30; the 01:00 and 02:00 slots are missed; 03:00 is next, ...
    assert clock(jobs.scheduled) == ["00:00", "03:00", "06:00", "09:00"]
    assert jobs.skipped.tolist() == [0, 2, 2, 2]
    assert jobs.run.tolist() == [1, 2, 3, 4]
    assert jobs.status.tolist() == ["Ended", "Ended", "Ended", "Executing"]


def test_a_run_never_overlaps_the_previous_run() -> None:
    jobs = simbatch.simulate(recurring({"every": "15m"}, duration={"exponential": "20m"},
                                       horizon="3d"), seed=4).jobs
    done = jobs[jobs.end.notna()]
    assert len(done) > 50
    assert (jobs.scheduled.iloc[1:].to_numpy() >= done.end.iloc[:len(jobs) - 1].to_numpy()).all()
    assert jobs.skipped.sum() > 0


def test_a_slot_at_the_instant_a_run_ends_is_taken() -> None:
    jobs = simbatch.simulate(recurring({"every": "1h"}, duration="1h", horizon="4h")).jobs
    assert clock(jobs.scheduled) == ["00:00", "01:00", "02:00", "03:00"]
    assert jobs.skipped.tolist() == [0, 0, 0, 0]


def test_end_after_n_occurrences() -> None:
    jobs = simbatch.simulate(recurring({"every": "1h", "count": 3})).jobs
    assert clock(jobs.scheduled) == ["00:00", "01:00", "02:00"]


def test_end_by_a_date_includes_that_whole_day() -> None:
    jobs = simbatch.simulate(recurring({"every": "1d", "until": "2026-01-07"},
                                       start="2026-01-05 22:00", horizon="1w")).jobs
    assert clock(jobs.scheduled, "%m-%d %H:%M") == ["01-05 22:00", "01-06 22:00", "01-07 22:00"]
    jobs = simbatch.simulate(recurring({"every": "1d", "until": "2026-01-07 12:00"},
                                       start="2026-01-05 22:00", horizon="1w")).jobs
    assert clock(jobs.scheduled, "%m-%d %H:%M") == ["01-05 22:00", "01-06 22:00"]


def test_cron_weekdays_at_ten_pm() -> None:
    jobs = simbatch.simulate(recurring({"cron": "0 22 * * 1-5"}, start="2026-01-05 00:00",
                                       horizon="2w")).jobs
    assert len(jobs) == 10
    assert set(clock(jobs.scheduled)) == {"22:00"}
    assert set(jobs.scheduled.dt.day_of_week) == {0, 1, 2, 3, 4}


def test_weekly_on_chosen_days_and_monthly_on_the_last_day() -> None:
    weekly = simbatch.simulate(recurring({"every": "1w", "on": ["mon", "fri"]},
                                         start="2026-01-05 06:00", horizon="3w")).jobs
    assert clock(weekly.scheduled, "%a %d") == ["Mon 05", "Fri 09", "Mon 12", "Fri 16",
                                                 "Mon 19", "Fri 23"]
    monthly = simbatch.simulate(recurring({"every": "1mo", "day": "last"},
                                          start="2026-01-05 23:00", horizon="100d")).jobs
    assert clock(monthly.scheduled, "%m-%d") == ["01-31", "02-28", "03-31"]


def test_drift_option_against_slot_default() -> None:
    # polling 1 min at offset 30 s: each run starts 30 s after it is due and lasts 10 min
    slot = simbatch.simulate(recurring({"every": "1h"}, polling="1m", horizon="4h")).jobs
    drift = simbatch.simulate(recurring({"every": "1h", "anchor": "end"}, polling="1m",
                                        horizon="4h")).jobs
    assert clock(slot.scheduled, "%H:%M:%S") == ["00:00:00", "01:00:00", "02:00:00", "03:00:00"]
    # next due = previous end + 1 h. The first run waits for the 00:00:30 poll and ends
    # 00:10:30; the next is due 01:10:30, itself a poll instant, so it starts at once.
    assert clock(drift.scheduled, "%H:%M:%S") == ["00:00:00", "01:10:30", "02:20:30",
                                                  "03:30:30"]


def test_recurrence_applies_only_inside_the_active_period() -> None:
    jobs = simbatch.simulate(recurring({"every": "2h"}, duration="30m", horizon="1d",
                                       active={"from": "20:00", "to": "23:30"})).jobs
    # slots 00:00 ... 18:00 lie outside the window: they are no runs at all, and a slot
    # outside the active period is not counted as skipped either (activeperiod.md)
    assert clock(jobs.scheduled) == ["20:00", "22:00"]
    assert clock(jobs.start) == ["20:00", "22:00"]
    assert (jobs.wait == pd.Timedelta(0)).all()
    assert jobs.skipped.tolist() == [0, 0]


def test_slots_outside_the_window_give_no_spurious_deadline_misses() -> None:
    # hourly, active 18:00-08:00, 2 h to finish: every run is due inside the window
    doc = recurring({"every": "1h"}, duration="10m", horizon="2d",
                    active={"from": "18:00", "to": "08:00"})
    doc["jobs"]["Nightly"]["deadline"] = "2h"
    result = simbatch.simulate(doc)
    due = result.jobs.scheduled.dt.hour
    assert ((due >= 18) | (due < 8)).all()
    assert len(result.jobs) == 2 * (8 + 6)  # 00:00-07:00 and 18:00-23:00 on each day
    assert result.deadlines().met.all()


def test_a_one_time_start_outside_the_window_waits_for_it() -> None:
    doc = recurring({"every": "1d"}, duration="30m", horizon="1d",
                    active={"from": "20:00", "to": "23:30"})
    job = doc["jobs"]["Nightly"]
    del job["recurrence"]
    jobs = simbatch.simulate(doc).jobs
    assert clock(jobs.scheduled) == ["00:00"] and clock(jobs.start) == ["20:00"]
    assert jobs.wait.iloc[0] == pd.Timedelta("20h")


def test_daily_job_on_both_daylight_saving_days_runs_once_a_day() -> None:
    for start in ("2026-03-27 00:00", "2026-10-23 00:00"):
        doc = recurring({"every": "1d"}, start=start, horizon="4d", timezone="Europe/Amsterdam")
        doc["jobs"]["Nightly"]["start"] = start[:10] + " 02:30"
        doc["timezone"] = "Europe/Amsterdam"
        jobs = simbatch.simulate(doc).jobs
        days = jobs.scheduled.dt.strftime("%m-%d").tolist()
        assert len(days) == len(set(days)) == 4, days
        if start.startswith("2026-03"):
            # 02:30 does not exist on 29 March: that day's run is when the clocks jump,
            # 03:00 CEST (as cron does)
            assert clock(jobs.scheduled) == ["02:30", "02:30", "03:00", "02:30"]
        else:
            # on 25 October 02:30 happens twice; the run is at the first one (CEST), so
            # the day after comes 25 hours later
            assert clock(jobs.scheduled) == ["02:30", "02:30", "02:30", "02:30"]
            gaps = jobs.scheduled.diff().dropna().dt.total_seconds() / 3600
            assert gaps.tolist() == [24.0, 24.0, 25.0]


def test_job_zone_differs_from_scenario_zone() -> None:
    doc = recurring({"every": "1d"}, start="2026-01-05 00:00", horizon="2d",
                    timezone="America/New_York")
    doc["jobs"]["Nightly"]["start"] = "2026-01-05 06:00"  # 06:00 in New York = 11:00 UTC
    jobs = simbatch.simulate(doc).jobs
    assert clock(jobs.scheduled) == ["11:00", "11:00"]


def test_server_periods_in_their_own_zone_across_the_autumn_change() -> None:
    doc = {"start": "2026-10-24 12:00", "timezone": "UTC", "horizon": "1d", "polling": 0,
           "platform": "on-premises",
           "servers": {"S": {"threads": 2, "timezone": "Europe/Amsterdam", "periods": [
               {"from": "18:00", "to": "07:30", "threads": 20}]}}, "jobs": {}}
    cap = simbatch.simulate(doc).capacity
    night, morning = cap[cap.threads == 20].start.iloc[0], cap[cap.threads == 2].start.iloc[1]
    assert morning - night == pd.Timedelta("14h30m")  # one hour longer than usual


def test_month_days_past_a_short_month_mean_its_last_day_and_yearly_keeps_its_month() -> None:
    monthly = simbatch.simulate(recurring({"every": "1mo", "day": 31}, start="2026-01-05 23:00",
                                          horizon="120d")).jobs
    assert clock(monthly.scheduled, "%m-%d") == ["01-31", "02-28", "03-31", "04-30"]
    yearly = simbatch.simulate(recurring({"every": "1y", "day": 15}, start="2026-01-05 23:00",
                                         horizon="400d")).jobs
    assert clock(yearly.scheduled, "%Y-%m-%d") == ["2026-01-15", "2027-01-15"]
    feb = simbatch.simulate(recurring({"every": "1y", "month": 2, "day": 30},
                                      start="2026-01-05 23:00", horizon="60d")).jobs
    assert clock(feb.scheduled, "%m-%d") == ["02-28"]


def test_drift_adds_days_on_the_local_calendar() -> None:
    doc = recurring({"every": "1d", "anchor": "end"}, duration="1m", start="2026-03-27 00:00",
                    horizon="4d", timezone="Europe/Amsterdam")
    doc["timezone"] = "Europe/Amsterdam"
    doc["jobs"]["Nightly"]["start"] = "2026-03-27 22:00"
    jobs = simbatch.simulate(doc).jobs
    # each run is due a local day after the last ended, across the spring change too
    assert clock(jobs.scheduled) == ["22:00", "22:01", "22:02", "22:03"]
