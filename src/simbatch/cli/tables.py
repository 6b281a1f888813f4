"""The tables the commands print: waits, deadlines, utilization and interval estimates."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas and the table formatting load with the commands that print
    import pandas as pd

    import simbatch

__all__ = ["SHOWN", "interval_table", "print_database", "print_deadlines", "print_tables",
           "table"]

SHOWN = ["wait_mean_s", "wait_p95_s", "utilization", "backlog_at_horizon", "jobs_error",
         "deadline_runs", "deadline_misses", "deadline_miss", "deadline_undetermined",
         "lateness_p95_s", "margin_min_s", "latest_finish_s"]


def table(frame: pd.DataFrame) -> str:
    """A frame as text without its index, or a note that it is empty."""
    return frame.to_string(index=False) if len(frame) else "(no tasks ran)"


def print_tables(result: simbatch.Result) -> None:
    """The summary of one run: job statuses, waits per group, deadlines, utilization."""
    import pandas as pd

    from simbatch.present import units

    scenario = result.scenario
    print(f"{scenario.name}: {scenario.start:%Y-%m-%d %H:%M} to {scenario.end:%Y-%m-%d %H:%M}"
          f" ({scenario.timezone}), seed {result.seed}")
    jobs = result.jobs
    counts = jobs["status"].value_counts()
    counts = counts[counts > 0]  # a categorical column counts every status, even unseen
    print(f"job runs: {units.count(len(jobs))} ("
          + ", ".join(f"{units.count(n)} {status}" for status, n in counts.items()) + ")")
    print("\nWaits per group (h:mm:ss)")
    summary = result.summary()
    for column in ("wait_mean", "wait_p50", "wait_p95", "wait_max"):
        summary[column] = summary[column].map(units.clock)
    for column in ("tasks", "started"):
        if column in summary:
            summary[column] = summary[column].map(units.count)
    print(table(summary))
    print_deadlines(result)
    print("\nUtilization per server (thread-time in h:mm:ss)")
    util = result.utilization()
    frame = pd.DataFrame({
        "server": util["server"],
        "busy": util["busy_thread_seconds"].map(units.clock),
        "available": util["available_thread_seconds"].map(units.clock),
        "utilization": util["utilization"].map(units.percent)})
    print(table(frame))
    print_database(result)


def print_database(result: simbatch.Result) -> None:
    """The shared database, when the scenario has one: the plain-words finding when
    contention sets the run's length, else how loaded it was and what contention cost."""
    from simbatch.present import units
    from simbatch.present.findings import findings

    summary = result.database_summary()
    if summary.empty:
        return
    row = summary.iloc[0]
    print(f"\nDatabase (shared; capacity {row.capacity:g} load units)")
    said = [line for line in findings(result) if "database is saturated" in line]
    print(said[0] if said else
          f"peak load {row.peak_load:g} with {units.count(row.peak_tasks)} tasks running;"
          f" saturated {units.clock(row.saturated)} ({units.percent(row.saturated_share)} of"
          f" the horizon); contention took {units.percent(row.lost_share)} of the time tasks"
          f" ran ({row.lost_hours:,.1f} thread-hours)")


def print_deadlines(result: simbatch.Result) -> None:
    """The deadline summary per job: does the night finish in time."""
    from simbatch.present.tables import deadline_table

    summary = result.deadline_summary()
    if summary.empty:
        return
    zone = result.scenario.timezone
    print(f"\nDeadlines per job (h:mm:ss; lateness = end - deadline, negative when early;"
          f" clock times in {zone})")
    print(deadline_table(summary).to_string(index=False))
    if int(summary.undetermined.sum()):
        print("undetermined: still open at the horizon, before the deadline; not counted as"
              " met or missed")
    if int(summary["failed"].sum()):
        print("failed: the job ended in Error, so its chain did not complete; counted as a"
              " miss whenever it ended")


def interval_table(frame: pd.DataFrame, by: list[str]) -> str:
    """The interval estimates of the ``SHOWN`` metrics, one row per ``by`` and metric."""
    from simbatch.present import units

    frame = frame[frame.metric.isin(SHOWN) & (frame.n > 0)].copy()
    frame["order"] = frame.metric.map(SHOWN.index)
    frame = frame.sort_values([*by[:-2], "order"], kind="stable")
    frame["estimate"] = [units.estimate(m, mean, lo, hi) for m, mean, lo, hi in zip(
        frame.metric, frame["mean"], frame.ci_low, frame.ci_high, strict=True)]
    frame["metric"] = frame.metric.map(units.label)
    return frame[[*by, "n", "estimate"]].to_string(index=False)
