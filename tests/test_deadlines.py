"""Deadline metrics: met, missed and undetermined runs, their summary and metric rows."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simbatch
from simbatch.experiments.intervals import paired_share_difference, wilson
from simbatch.results import summary
from tests.reference_metrics import metrics


def night() -> dict[str, Any]:
    # Four threads, dispatch at once, so every run starts when it is due.
    # Cycle: due 00:00, 03:00, 06:00, 09:00 (every 3h, the next slot after the last end),
    #   1h30m each, deadline 04:00: 00:00 ends 01:30 (2h30m early), 03:00 ends 04:30
    #   (30m late), 06:00 ends 07:30 (20h30m before 04:00 the next day), 09:00 is still
    #   running at the 10:00 horizon and its deadline (04:00 tomorrow) is after it:
    #   undetermined.
    # Stuck: due 00:00 with 2h to finish, runs 20h: open at the horizon, 8h past its
    #   deadline already: missed.
    return {"name": "Night", "start": "2026-01-05 00:00", "horizon": "10h", "polling": 0,
            "scheduling": "priority", "servers": {"A": {"threads": 4}},
            "jobs": {"Cycle": {"recurrence": {"every": "3h"}, "deadline": "04:00",
                               "tasks": {"T": {"duration": "1h30m"}}},
                     "Stuck": {"deadline": "2h", "tasks": {"T": {"duration": "20h"}}},
                     "Free": {"tasks": {"T": {"duration": "5m"}}}}}


def test_deadlines_states_exactly() -> None:
    table = simbatch.simulate(night()).deadlines()
    assert table.job.tolist() == ["Cycle"] * 4 + ["Stuck"]
    assert table.state.tolist() == ["met", "missed", "met", "undetermined", "missed"]
    assert table.met.tolist()[:3] == [True, False, True] and pd.isna(table.met.iloc[3])
    assert table.lateness.tolist()[:3] == [pd.Timedelta("-2h30m"), pd.Timedelta("30m"),
                                           pd.Timedelta("-20h30m")]
    assert pd.isna(table.lateness.iloc[3])
    assert table.lateness.iloc[4] == pd.Timedelta("8h")  # at least: horizon - deadline
    assert table.deadline.dt.strftime("%d %H:%M").tolist() == [
        "05 04:00", "05 04:00", "06 04:00", "06 04:00", "05 02:00"]


def test_deadline_summary_exactly() -> None:
    summary = simbatch.simulate(night()).deadline_summary().set_index("job")
    cycle, stuck = summary.loc["Cycle"], summary.loc["Stuck"]
    assert (cycle.runs, cycle.met, cycle.missed, cycle.undetermined) == (3, 2, 1, 1)
    assert cycle.miss_share == pytest.approx(1 / 3)
    # lateness of the judged runs: -20h30m, -2h30m, +30m
    assert cycle.lateness_p50_s == -9000.0  # -2h30m
    assert cycle.lateness_p95_s == pytest.approx(-9000 + 0.9 * 10800)  # -2h30m + 0.9 * 3h
    assert cycle.margin_min_s == -1800.0  # -30m
    assert cycle.latest_finish_s == 5400.0  # 1h30m
    assert cycle.latest_end == pd.Timestamp("2026-01-05 01:30", tz="UTC")
    assert (stuck.runs, stuck.missed, stuck.undetermined, stuck.miss_share) == (1, 1, 0, 1.0)
    assert stuck.lateness_p50_s == 8 * 3600.0
    assert math.isnan(stuck.margin_min_s) and math.isnan(stuck.latest_finish_s)
    assert "Free" not in summary.index  # no deadline, no row


def test_deadline_metric_rows_use_the_planner_names() -> None:
    rows = metrics(simbatch.simulate(night()))
    got = {(m, k): v for m, k, v in rows.itertuples(index=False) if k in ("Cycle", "Stuck")}
    assert got[("deadline_runs", "Cycle")] == 3
    assert got[("deadline_misses", "Cycle")] == 1
    assert got[("deadline_miss", "Cycle")] == pytest.approx(1 / 3)
    assert got[("deadline_undetermined", "Cycle")] == 1
    assert got[("lateness_p50_s", "Cycle")] == -9000
    assert got[("lateness_p95_s", "Cycle")] == pytest.approx(-9000 + 0.9 * 10800)
    assert got[("margin_min_s", "Cycle")] == -1800
    assert got[("latest_finish_s", "Cycle")] == 5400
    assert math.isnan(got[("margin_min_s", "Stuck")])
    assert got[("deadline_miss", "Stuck")] == 1.0
    # the existing names stay as they were
    assert {"wait_mean_s", "wait_p95_s", "utilization", "backlog_at_horizon"} <= set(
        rows.metric)


def test_no_judged_run_gives_nan_share() -> None:
    doc = night()
    doc["jobs"] = {"Long": {"deadline": "1d", "tasks": {"T": {"duration": "20h"}}}}
    got = metrics(simbatch.simulate(doc)).set_index(["metric", "key"]).value
    assert got["deadline_runs", "Long"] == 0 and got["deadline_undetermined", "Long"] == 1
    assert math.isnan(got["deadline_miss", "Long"])


def test_wilson_matches_the_textbook_values() -> None:
    low, high = wilson(1, 10, 0.95)  # Wilson (1927): 1 of 10 -> [0.0179, 0.4042]
    assert (low, high) == (pytest.approx(0.01787, abs=1e-4), pytest.approx(0.40416, abs=1e-4))
    assert wilson(0, 30, 0.95)[0] == 0.0 and wilson(30, 30, 0.95)[1] == 1.0


def test_paired_share_difference_stays_in_range() -> None:
    ones, zeros = np.ones(30), np.zeros(30)
    d, low, high = paired_share_difference(ones, ones, ones, ones, 0.95)
    # 30 of 30 missed in both: no difference seen, and 30 runs bound it to about 11 points
    assert d == 0.0 and -0.12 < low < 0 < high < 0.12
    d, low, high = paired_share_difference(zeros, ones, ones, ones, 0.95)
    assert d == 1.0 and 0.8 < low < 1.0 and high == 1.0


def test_compare_gives_proportion_intervals_within_range() -> None:
    base = night()
    more = night()
    more["jobs"]["Cycle"]["tasks"]["T"]["duration"] = {"uniform": ["1h", "2h"]}
    base["jobs"]["Cycle"]["tasks"]["T"]["duration"] = {"uniform": ["50m", "1h40m"]}
    cmp = simbatch.compare({"base": base, "slower": more}, replications=6, executor="serial")
    summary = cmp.summary()
    share = summary[(summary.metric == "deadline_miss") & (summary.key == "Cycle")]
    assert ((share.ci_low >= 0) & (share.ci_high <= 1)).all()
    counts = summary[summary.metric.isin(["deadline_misses", "deadline_runs", "jobs_error"])]
    assert (counts.ci_low.dropna() >= 0).all()
    diff = cmp.differences()
    row = diff[(diff.metric == "deadline_miss") & (diff.key == "Cycle")].iloc[0]
    assert -1 <= row.ci_low <= row["mean"] <= row.ci_high <= 1
    assert [s.name for s in cmp.scenarios] == ["Night", "Night"]


@pytest.mark.parametrize(("start", "utc"), [
    ("2026-03-29 01:00", "2026-03-29 01:00"),  # 02:30 does not exist: the jump, 03:00 CEST
    ("2026-10-25 01:00", "2026-10-25 00:30"),  # 02:30 happens twice: the first, CEST
    ("2026-01-05 03:00", "2026-01-06 01:30"),  # past 02:30 already: tomorrow's
])
def test_time_of_day_deadlines_across_dst(start: str, utc: str) -> None:
    doc = {"start": start, "timezone": "Europe/Amsterdam", "horizon": "2d", "polling": 0,
           "scheduling": "priority", "servers": {"A": {"threads": 1}},
           "jobs": {"J": {"deadline": "02:30", "tasks": {"T": {"duration": "1m"}}}}}
    table = simbatch.simulate(doc).deadlines()
    assert table.deadline.iloc[0] == pd.Timestamp(utc, tz="UTC")


def test_deadlines_of_many_runs_agree_with_their_ends() -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": "1d", "polling": 0,
           "scheduling": "priority", "servers": {"A": {"threads": 16}},
           "jobs": {"Load": {"arrivals": {"interval": "10s"}, "deadline": "06:00",
                             "tasks": {"T": {"duration": {"exponential": "100s"}}}}}}
    result = simbatch.simulate(doc)
    table = result.deadlines()
    assert len(table) == len(result.jobs) > 8000
    # runs due shortly before 06:00 end after it: both states occur, so the check can fail
    assert (table.state == "missed").sum() > 0 and (table.state == "met").sum() > 8000
    finished = table[table.end.notna()]
    assert ((finished.state == "met") == (finished.end <= finished.deadline)).all()


@settings(max_examples=25, deadline=None)
@given(durations=st.lists(st.integers(1, 600), min_size=1, max_size=6),
       within=st.integers(1, 400), horizon=st.integers(60, 900), threads=st.integers(1, 3),
       fail=st.sampled_from([0.0, 0.0, 0.3]))
def test_deadline_states_are_consistent(durations: list[int], within: int, horizon: int,
                                        threads: int, fail: float) -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": f"{horizon}m", "polling": 0,
           "scheduling": "priority", "servers": {"A": {"threads": threads}},
           "jobs": {"J": {"recurrence": {"every": "1h"}, "deadline": f"{within}m",
                          "tasks": {f"T{i}": {"duration": f"{d}m", "fail": fail}
                                    for i, d in enumerate(durations)}}}}
    result = simbatch.simulate(doc)
    table = result.deadlines()
    end = pd.Timestamp(result.scenario.end)
    finished = table.end.notna()
    assert (table.finished == finished).all()
    error = (result.jobs.status == "Error").to_numpy()
    assert ((table.state == "failed") == error).all()  # an Error run is over: finished
    assert ((table.state == "met") == (finished & ~error & (table.end <= table.deadline))).all()
    assert ((table.state == "undetermined") == (~finished & (table.deadline >= end))).all()
    assert (table.lateness[table.state == "missed"] > pd.Timedelta(0)).all()
    assert table.lateness[table.state == "failed"].isna().all()
    [row] = result.deadline_summary().to_dict("records")
    assert row["runs"] == row["met"] + row["missed"] + row["failed"]
    assert row["failed"] == error.sum()
    assert row["runs"] + row["undetermined"] == len(table) == len(result.jobs)
    if row["runs"]:
        assert row["miss_share"] == (row["missed"] + row["failed"]) / row["runs"]
    completed = finished & ~error
    if completed.any():
        assert row["margin_min_s"] == -(table.end - table.deadline)[
            completed].max().total_seconds()
    else:
        assert math.isnan(row["margin_min_s"])


# ---- failed runs: a run whose job ended in Error is never met --------------------------------

def broken() -> dict[str, Any]:
    # One thread, dispatch at once, deadline 2h after due (00:00):
    # Broken: A fails (fail: 1, no ignore_failure) at 00:10; B, after A ended, didn't run;
    #   the job ends in Error at 00:10, before its deadline: failed, no lateness.
    # Tolerant: the same, with ignore_failure on A and B after "ended or error": A fails at
    #   00:20 (ignored), B runs 00:20-00:30, the job ends (Ended) 00:30: met, 1h30m early.
    return {"name": "Broken", "start": "2026-01-05 00:00", "horizon": "6h", "polling": 0,
            "scheduling": "priority", "servers": {"A": {"threads": 1}},
            "jobs": {"Broken": {"deadline": "2h", "tasks": {
                         "A": {"duration": "10m", "fail": 1},
                         "B": {"duration": "10m", "after": {"A": "ended"}}}},
                     "Tolerant": {"deadline": "2h", "tasks": {
                         "A": {"duration": "10m", "fail": 1, "ignore_failure": True},
                         "B": {"duration": "10m", "after": {"A": "ended or error"}}}}}}


def agreed_rows(doc: dict[str, Any]) -> dict[tuple[str, str], float]:
    """The metric rows of a run, after checking that the replication's rows, the result's
    rows and the independent pandas reference all agree bit for bit."""
    loaded = simbatch.load(doc)
    result = simbatch.simulate(loaded)
    reference = metrics(result)
    for rows in (summary.replication_metrics(loaded, 0),
                 pd.DataFrame(summary.result_metric_rows(result),
                              columns=["metric", "key", "value"])):
        pd.testing.assert_frame_equal(rows, reference, check_exact=True)
    return {(m, k): v for m, k, v in reference.itertuples(index=False)}


def test_a_chain_that_fails_before_its_deadline_is_failed_not_met() -> None:
    result = simbatch.simulate(broken())
    assert result.jobs.set_index("job").status.to_dict() == {"Broken": "Error",
                                                             "Tolerant": "Ended"}
    table = result.deadlines().set_index("job")
    assert table.state.to_dict() == {"Broken": "failed", "Tolerant": "met"}
    assert table.met.to_dict() == {"Broken": False, "Tolerant": True}
    assert table.end["Broken"] == pd.Timestamp("2026-01-05 00:10", tz="UTC")  # in time...
    assert pd.isna(table.lateness["Broken"])  # ...but a failed run has no lateness
    assert table.lateness["Tolerant"] == pd.Timedelta("-1h30m")
    got = result.deadline_summary().set_index("job")
    assert got.loc["Broken", ["runs", "met", "missed", "failed", "undetermined"]].tolist() == [
        1, 0, 0, 1, 0]
    assert got.miss_share["Broken"] == 1.0
    assert math.isnan(got.lateness_p50_s["Broken"]) and math.isnan(got.margin_min_s["Broken"])
    assert math.isnan(got.latest_finish_s["Broken"]) and pd.isna(got.latest_end["Broken"])
    assert got.loc["Tolerant", ["runs", "met", "missed", "failed"]].tolist() == [1, 1, 0, 0]
    assert got.miss_share["Tolerant"] == 0.0
    assert got.margin_min_s["Tolerant"] == 5400.0  # 1h30m


def test_failed_runs_count_as_misses_in_the_metric_rows() -> None:
    got = agreed_rows(broken())
    assert [got[m, "Broken"] for m in ("deadline_runs", "deadline_misses", "deadline_miss",
                                       "deadline_undetermined")] == [1, 1, 1.0, 0]
    assert all(math.isnan(got[m, "Broken"]) for m in (
        "lateness_p50_s", "lateness_p95_s", "margin_min_s", "latest_finish_s"))
    assert [got[m, "Tolerant"] for m in ("deadline_runs", "deadline_misses", "deadline_miss",
                                         "lateness_p50_s", "margin_min_s",
                                         "latest_finish_s")] == [1, 0, 0.0, -5400, 5400,
                                                                 1800]


def restarted(retries: int) -> dict[str, Any]:
    # Plan is due 00:00 on Monday with 1h to finish; T runs from 00:00 for 20m. Monday's
    # maintenance restarts the one server at 00:10 for 5m: T's attempt ends in Error
    # (cause restart). With a retry left it runs again 00:15-00:35: met, 25m early. With
    # none the job ends in Error at 00:10, before its deadline: failed.
    return {"start": "2026-01-05 00:00", "horizon": "3h", "polling": 0,
            "scheduling": "priority", "servers": {"A": {"threads": 1}},
            "maintenance": [{"days": ["mon"], "from": "00:10", "to": "01:00", "down": "5m"}],
            "jobs": {"Plan": {"deadline": "1h", "tasks": {
                "T": {"duration": "20m", "retries": retries}}}}}


@pytest.mark.parametrize(("retries", "status", "state", "end"), [
    (0, "Error", "failed", "00:10"), (1, "Ended", "met", "00:35")])
def test_a_restart_with_no_retries_left_fails_the_run(retries: int, status: str, state: str,
                                                      end: str) -> None:
    result = simbatch.simulate(restarted(retries))
    assert result.tasks.cause.tolist()[0] == "restart"
    assert result.jobs.status.tolist() == [status]
    [row] = result.deadlines().to_dict("records")
    assert (row["state"], row["end"].strftime("%H:%M")) == (state, end)
    [summary_row] = result.deadline_summary().to_dict("records")
    assert (summary_row["failed"], summary_row["met"]) == ((1, 0) if retries == 0 else (0, 1))
    got = agreed_rows(restarted(retries))
    assert (got["deadline_misses", "Plan"], got["deadline_miss", "Plan"]) == (
        (1, 1.0) if retries == 0 else (0, 0.0))
    assert got["deadline_runs", "Plan"] == 1


def mixed() -> dict[str, Any]:
    # One thread. Nightly (every 2h, the next slot after the last end; T 30m, no retries;
    # deadline 40m after due):
    #   00:00 runs 00:00-00:30: met, lateness -10m, margin 10m, took 30m;
    #   02:00 waits for Blocker (01:50-02:40), starts 02:40 and the outage at 03:05 kills
    #     it: failed, ended 03:05 (had it counted: lateness +25m, margin -25m, took 65m);
    #   04:00 runs 04:00-04:30: met as the first.
    return {"start": "2026-01-05 00:00", "horizon": "5h", "polling": 0,
            "scheduling": "priority", "servers": {"A": {"threads": 1}},
            "outages": [{"server": "A", "at": "2026-01-05 03:05", "for": "10m"}],
            "jobs": {"Nightly": {"recurrence": {"every": "2h"}, "deadline": "40m",
                                 "tasks": {"T": {"duration": "30m"}}},
                     "Blocker": {"start": "2026-01-05 01:50",
                                 "tasks": {"T": {"duration": "50m"}}}}}


def test_lateness_and_margin_leave_failed_runs_out() -> None:
    result = simbatch.simulate(mixed())
    table = result.deadlines()
    assert table.state.tolist() == ["met", "failed", "met"]
    assert table.end.dt.strftime("%H:%M").tolist() == ["00:30", "03:05", "04:30"]
    [row] = result.deadline_summary().to_dict("records")
    assert [row[c] for c in ("runs", "met", "missed", "failed")] == [3, 2, 0, 1]
    assert row["miss_share"] == pytest.approx(1 / 3)
    assert row["lateness_p50_s"] == row["lateness_p95_s"] == -600.0  # -10m
    assert row["margin_min_s"] == 600.0  # 10m
    assert row["latest_finish_s"] == 1800.0  # 30m
    assert row["latest_end"] == pd.Timestamp("2026-01-05 00:30", tz="UTC")
    got = agreed_rows(mixed())
    assert [got[m, "Nightly"] for m in (
        "deadline_runs", "deadline_misses", "lateness_p95_s", "margin_min_s",
        "latest_finish_s")] == [3, 1, -600, 600, 1800]


# ---- deadline_summary is a machine table: spans in float seconds, named _s -----------------

def late_by_974s() -> dict[str, Any]:
    # One thread, Late due 00:00 with a 30m deadline; its task takes 46m14s, so it ends
    # 00:46:14: missed by 974 s (16m14s), a margin of -974 s, 2774 s after due.
    return {"start": "2026-01-05 00:00", "horizon": "2h", "polling": 0,
            "scheduling": "priority", "servers": {"A": {"threads": 1}},
            "jobs": {"Late": {"deadline": "30m", "tasks": {"T": {"duration": "46m14s"}}}}}


def test_deadline_summary_spans_are_float_seconds_named_s() -> None:
    summary = simbatch.simulate(late_by_974s()).deadline_summary()
    assert summary.columns.tolist() == [
        "job", "runs", "met", "missed", "failed", "undetermined", "miss_share",
        "lateness_p50_s", "lateness_p95_s", "margin_min_s", "latest_finish_s", "latest_end"]
    spans = ["lateness_p50_s", "lateness_p95_s", "margin_min_s", "latest_finish_s"]
    assert summary[spans].dtypes.tolist() == [np.dtype("float64")] * 4
    [row] = summary.to_dict("records")
    assert [row[c] for c in spans] == [974.0, 974.0, -974.0, 2774.0]
    assert row["latest_end"] == pd.Timestamp("2026-01-05 00:46:14", tz="UTC")
    # a negative margin prints as a number of seconds, never as "-1 days +23:43:46"
    text = summary.to_string()
    assert "days" not in text and "-974.0" in text


def test_deadline_summary_spans_agree_with_the_metric_rows() -> None:
    # The same names, the same seconds as the experiments' metric rows (results/summary.py).
    for scenario in (night(), broken(), mixed(), late_by_974s()):
        result = simbatch.simulate(scenario)
        rows = {(m, k): v for m, k, v in summary.result_metric_rows(result)}
        for record in result.deadline_summary().to_dict("records"):
            for column in ("lateness_p50_s", "lateness_p95_s", "margin_min_s",
                           "latest_finish_s"):
                want, got = rows[column, record["job"]], record[column]
                assert (math.isnan(got) and math.isnan(want)) or got == want, (column, got)
