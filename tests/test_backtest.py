"""Back-test: replaying simbatch's own exported history on its topology reproduces it."""

from __future__ import annotations

import pytest

from simbatch import HistoryError, simulate
from simbatch.backtest import backtest
from simbatch.history import History

TOPOLOGY = {
    "start": "2026-01-05 22:00", "horizon": "6h", "polling": "1m", "scheduling": "priority",
    "servers": {"AOS1": {"threads": 2, "poll_offset": 0}, "AOS2": {"threads": 2,
                                                                  "poll_offset": "30s"}},
}
WORKLOAD = {**TOPOLOGY, "jobs": {
    "Import": {"arrivals": {"interval": {"exponential": "4m"}},
               "tasks": {"Load": {"duration": {"lognormal": {"mean": "5m", "sd": "2m"}}}}},
    "Nightly": {"recurrence": {"every": "1h"},
                "tasks": {"A": {"duration": "7m"}, "B": {"duration": "3m"}}}}}


def _history() -> History:
    tables = simulate(WORKLOAD, seed=1).to_fo_history()
    return History.from_tables(tables["BatchJobHistory"], tables["BatchHistory"])


def test_own_history_replays_within_a_poll_and_fewer_servers_err_more() -> None:
    history = _history()
    same = backtest(history, TOPOLOGY)
    runs = same.runs.dropna()
    gap = (runs["simulated_start"] - runs["actual_start"]).dt.total_seconds().abs()
    assert len(runs) > 50 and gap.max() <= 60  # within one poll interval
    errors = same.errors().set_index(["group", "metric"])
    assert errors.loc[("all", "wait_mean"), "abs_error"] <= 5  # seconds
    fewer = {**TOPOLOGY, "servers": {"AOS1": {"threads": 2, "poll_offset": 0}}}
    worse = backtest(history, fewer, other_servers=True).errors().set_index(["group", "metric"])
    assert worse.loc[("all", "wait_mean"), "abs_error"] > 10 * max(
        errors.loc[("all", "wait_mean"), "abs_error"], 1.0)


def test_refusals() -> None:
    history = _history()
    with pytest.raises(HistoryError, match="not in the topology"):
        backtest(history, {**TOPOLOGY, "servers": {"AOS9": {"threads": 2}}})
    with pytest.raises(HistoryError, match="no job run is due in the topology's period"):
        backtest(history, {**TOPOLOGY, "start": "2027-01-05 22:00"})
