"""Arrival profiles by hour of day and weekday, bulk arrivals, and the interval form."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import simbatch


def profile_doc(arrivals: dict[str, Any], horizon: str = "4w") -> dict[str, Any]:
    return {
        "start": "2026-01-05 00:00", "timezone": "Europe/Amsterdam", "horizon": horizon,
        "polling": 0, "servers": {"S": {"threads": 16}},
        "jobs": {"Order import": {"arrivals": arrivals,
                                  "tasks": {"Import": {"duration": "1s"}}}},
    }


BUSINESS = {"rate": "5/h", "windows": [{"days": "mon-fri", "from": "08:00", "to": "18:00",
                                        "rate": "60/h"}]}


def test_arrival_counts_per_hour_match_the_profile() -> None:
    jobs = simbatch.simulate(profile_doc(BUSINESS), seed=2).jobs
    local = jobs.scheduled
    weekday = local.dt.day_of_week < 5
    business = weekday & (local.dt.hour >= 8) & (local.dt.hour < 18)
    # four weeks: 20 business days x 10 h at 60/h, the rest (672 - 200 h) at 5/h
    for mask, hours, rate in ((business, 200, 60), (~business, 472, 5)):
        expected = hours * rate
        assert abs(mask.sum() - expected) < 4 * math.sqrt(expected), (mask.sum(), expected)
    # per hour of day on weekdays, each business hour within 4 sigma of 20 x 60
    per_hour = local[business].dt.hour.value_counts()
    assert set(per_hour.index) == set(range(8, 18))
    assert (abs(per_hour - 1200) < 4 * math.sqrt(1200)).all()
    # and nothing but the background rate at night
    night = local[weekday & (local.dt.hour < 6)]
    assert abs(len(night) - 20 * 6 * 5) < 4 * math.sqrt(600)


def test_exponential_gaps_inside_a_window() -> None:
    jobs = simbatch.simulate(profile_doc({"rate": "0/h", "windows": [
        {"from": "08:00", "to": "18:00", "rate": "120/h"}]}, horizon="20d"), seed=1).jobs
    assert (jobs.scheduled.dt.hour.between(8, 17)).all()
    gaps = jobs.scheduled.diff().dt.total_seconds().to_numpy()[1:]
    inside = gaps[gaps < 3600]  # within one day's window
    assert np.mean(inside) == pytest.approx(30, rel=0.05)
    assert np.std(inside) == pytest.approx(30, rel=0.1)  # exponential: sd = mean


def test_bulk_arrivals_create_several_runs_at_once() -> None:
    jobs = simbatch.simulate(profile_doc({"interval": "1h", "batch": 3}, horizon="5h")).jobs
    assert jobs.run.tolist() == list(range(1, 13))
    assert jobs.groupby("scheduled").size().tolist() == [3, 3, 3, 3]
    assert jobs.scheduled.dt.strftime("%H:%M").unique().tolist() == ["01:00", "02:00", "03:00",
                                                                       "04:00"]


def test_arrivals_are_the_same_whatever_the_topology() -> None:
    one = simbatch.simulate(profile_doc(BUSINESS, horizon="1w"), seed=9).jobs
    doc = profile_doc(BUSINESS, horizon="1w")
    doc["servers"] = {"A": {"threads": 1}, "B": {"threads": 2}}
    other = simbatch.simulate(doc, seed=9).jobs
    assert one.scheduled.equals(other.scheduled)


def test_interval_and_rate_are_both_valid_but_not_together() -> None:
    assert len(simbatch.simulate(profile_doc({"interval": "10m"}, horizon="1h")).jobs) == 5
    assert len(simbatch.simulate(profile_doc({"rate": "6/h"}, horizon="10h"), seed=3).jobs) > 30
    with pytest.raises(simbatch.ScenarioError, match="an interval or a rate"):
        simbatch.load(profile_doc({"interval": "10m", "rate": "6/h"}))
    with pytest.raises(simbatch.ScenarioError, match=r"arrivals\.rate: bad rate '6 per hour'"):
        simbatch.load(profile_doc({"rate": "6 per hour"}))
    with pytest.raises(simbatch.ScenarioError, match="unknown weekday 'mun'"):
        simbatch.load(profile_doc({"rate": "1/h", "windows": [
            {"days": "mun-fri", "from": "08:00", "to": "18:00", "rate": "6/h"}]}))
