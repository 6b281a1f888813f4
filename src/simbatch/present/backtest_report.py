"""The back-test report: actual against simulated per group, per hour and per daily job.

``backtest_page`` renders it (``templates/backtest.html``) from plain data: the back-test's
error tables, its scenario's name, period and zone, and its counts and notes. The present
wing never imports the back-test itself; ``write_backtest_report`` and
``write_backtest_plot`` take any object with a back-test's attributes (``BacktestView``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd

from simbatch.present import pages, plots, units
from simbatch.present.plots import BacktestView

__all__ = ["CONFIDENCE_INTERVAL", "PREDICTION_INTERVAL", "backtest_page", "error_rows",
           "write_backtest_plot", "write_backtest_report"]


CONFIDENCE_INTERVAL = "simulated (95% CI)"
"""The column of the simulated mean's t confidence interval (calibrated mode)."""
PREDICTION_INTERVAL = "predicted (95% PI)"
"""The column of the prediction interval that ``within`` is judged on (calibrated mode)."""


def error_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """An error table (``Backtest.errors``) for reading, as the report and the CLI show it.

    Times (every figure is seconds) as h:mm:ss, ``error`` as a signed percent, counts as
    whole numbers. In calibrated mode the simulated mean's confidence interval becomes one
    column (``CONFIDENCE_INTERVAL``) and the prediction interval that ``within`` is judged
    on another (``PREDICTION_INTERVAL``), right before ``within``: an actual figure outside
    the first may well be inside the second.
    """
    shown = frame.copy()
    for column in ("actual", "simulated", "abs_error"):
        if column in shown:
            shown[column] = shown[column].map(units.clock)
    if "error" in shown:
        shown["error"] = shown["error"].map(lambda e: units.percent(e, signed=True))
    for low, high, name in (("simulated_low", "simulated_high", CONFIDENCE_INTERVAL),
                            ("predicted_low", "predicted_high", PREDICTION_INTERVAL)):
        if low in shown and high in shown:
            spans = [units.interval(f"{metric}_s", lo, hi)  # every figure is seconds
                     for metric, lo, hi in zip(shown["metric"], shown[low], shown[high],
                                               strict=True)]
            at = list(shown.columns).index(low)
            shown = shown.drop(columns=[low, high])
            shown.insert(at, name, spans)
    if "within" in shown and PREDICTION_INTERVAL in shown:
        within = shown.pop("within")
        shown.insert(list(shown.columns).index(PREDICTION_INTERVAL) + 1, "within", within)
    for column in ("n_actual", "n_simulated", "replications"):
        if column in shown:
            shown[column] = shown[column].map(units.count)
    return shown


def backtest_page(*, scenario: str, start: datetime, end: datetime, timezone: str, mode: str,
                  graph: str, job_runs: int, task_runs: int, replications: int, seed: int,
                  notes: Sequence[str], by_group: pd.DataFrame, by_hour: pd.DataFrame,
                  by_job: pd.DataFrame, history: str = "") -> str:
    """The back-test report as an HTML text, from plain data.

    ``scenario``, ``start``, ``end`` and ``timezone``: the simulated scenario's name, period
    and zone; ``mode``: ``replay`` or ``calibrated`` (then ``replications`` runs seeded
    ``seed``); ``graph``: where the task graph came from; ``job_runs`` and ``task_runs``:
    how many were compared; ``notes``: what the back-test left out or assumed;
    ``by_group``, ``by_hour`` and ``by_job``: its error tables (``Backtest.errors`` by
    group, hour and job); ``history``: what was tested, for the heading.
    """
    how = ("trace-driven replay: each run due at its OrigStartDateTime with the tasks it had,"
           " each attempt as long as recorded; only the queueing is simulated"
           if mode == "replay" else
           f"calibrated scenario, {replications} replications seeded {seed}; simulated ="
           " their mean with its 95% interval, predicted = where one period's figure should"
           " fall if the model were right")
    hourly = by_hour[(by_hour["group"] == "all") & by_hour["metric"].isin(
        ["wait_mean", "wait_p95", "delay_mean", "end_p95"])]
    daily = (pages.table(error_rows(by_job[by_job["metric"].isin(
        ["wait_mean", "wait_max", "end_mean", "end_p95", "end_max"])])) if len(by_job)
        else None)
    figure = plots.backtest_hourly_waits(by_hour, mode=mode, scenario=scenario,
                                         timezone=timezone)
    return pages.render(
        "backtest.html", title=f"simbatch back-test: {scenario}",
        heading=f"Back-test: {history or 'history'} on {scenario}",
        generated=pages.generated(), how=how,
        period=f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}", timezone=timezone,
        job_runs=f"{job_runs:,}", task_runs=f"{task_runs:,}", graph=graph, notes=list(notes),
        by_group=pages.table(error_rows(by_group)), plot=pages.image(figure),
        by_hour=pages.table(error_rows(hourly)), daily=daily)


def write_backtest_report(test: BacktestView, out: str | Path, history: str = "") -> Path:
    """Write a back-test's report to ``out`` (an HTML file): its errors, plot and notes."""
    scenario = test.scenario
    replications = (int(test.simulated["replication"].max()) if test.mode != "replay"
                    else 0)
    page = backtest_page(
        scenario=scenario.name, start=scenario.start, end=scenario.end,
        timezone=scenario.timezone, mode=test.mode, graph=test.graph,
        job_runs=len(test.runs), task_runs=len(test.tasks), replications=replications,
        seed=test.seed, notes=test.notes, by_group=test.errors("group"),
        by_hour=test.errors("hour"), by_job=test.errors("job"), history=history)
    return pages.write_page(out, page)


def write_backtest_plot(test: BacktestView, out: str | Path) -> Path:
    """Write the plot of actual against simulated waits per hour (``plots.backtest_waits``)."""
    return pages.write_figure(out, plots.backtest_waits(test), dpi=100)
