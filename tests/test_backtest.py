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


def _small() -> History:
    import pandas as pd

    jobs = pd.DataFrame({
        "RecId": [1, 2], "BatchJobId": [10, 10], "Caption": ["J", "J"], "Status": [4, 4],
        "OrigStartDateTime": ["2026-01-05 22:00:00", "2026-01-05 22:01:00"],
        "StartDateTime": ["2026-01-05 22:00:20", "2026-01-05 22:10:30"],
        "EndDateTime": ["2026-01-05 22:10:20", "2026-01-05 22:15:30"]})
    tasks = pd.DataFrame({
        "BatchJobHistoryId": [1, 2], "BatchJobId": [10, 10], "BatchId": [100, 100],
        "Caption": ["T", "T"], "ServerId": ["AOS1", "AOS1"], "Status": [4, 4],
        "StartDateTime": ["2026-01-05 22:00:20", "2026-01-05 22:10:30"],
        "EndDateTime": ["2026-01-05 22:10:20", "2026-01-05 22:15:30"]})
    batch_job = pd.DataFrame({"RecId": [10], "BatchGroup": ["Nightly"]})
    return History.from_tables(jobs, tasks, batch_job=batch_job)


SMALL = {"start": "2026-01-05 22:00", "horizon": "2h", "polling": "1m",
         "scheduling": "affinity", "servers": {"AOS1": {"threads": 1, "poll_offset": 0}},
         "groups": {"Nightly": {"servers": ["AOS1"]}}}


def test_a_hand_made_history_replays_to_exact_starts() -> None:
    import pandas as pd

    result = backtest(_small(), SMALL)
    # one thread polling on the minute: run 1 at its due 22:00 for its recorded 10 min;
    # run 2, due 22:01, takes the freed thread at 22:10 and runs its recorded 5 min
    assert list(result.runs["simulated_start"]) == [
        pd.Timestamp("2026-01-05 22:00", tz="UTC"), pd.Timestamp("2026-01-05 22:10", tz="UTC")]
    assert list(result.runs["simulated_wait_s"]) == [0.0, 540.0]
    assert list(result.runs["actual_wait_s"]) == [20.0, 570.0]
    assert list(result.result.tasks["duration"].dt.total_seconds()) == [600.0, 300.0]


def test_a_group_the_topology_cannot_run_is_refused() -> None:
    topology = {**SMALL, "groups": {"Other": {"servers": ["AOS1"]}}}
    with pytest.raises(HistoryError, match="job 'J' is in group 'Nightly', which the topology"):
        backtest(_small(), topology)


def test_cli_prints_the_error_table(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from simbatch.cli import main
    from simbatch.history import write_fo_history

    written = write_fo_history(simulate(WORKLOAD, seed=1), tmp_path)
    topology = tmp_path / "topology.yaml"
    topology.write_text("start: 2026-01-05 22:00\nhorizon: 6h\nscheduling: priority\n"
                        "servers:\n  AOS1: {threads: 2, poll_offset: 0}\n"
                        "  AOS2: {threads: 2, poll_offset: 30s}\n")
    assert main(["backtest", *map(str, written), "--topology", str(topology)]) == 0
    out = capsys.readouterr().out
    assert "wait_mean" in out and "task graph: none" in out
    assert main(["backtest", *map(str, written), "--topology", str(tmp_path / "no.yaml")]) == 2
