"""The what-if report: one self-contained HTML page a planner can forward as it is.

It shows one or several scenarios side by side: key figures, findings in plain words
backed by numbers, waits per group, deadline misses, plots, and (for several scenarios)
the paired differences with confidence intervals. Plots are embedded as PNG data, styles
are inline, and the page makes no external request.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

import simbatch
from simbatch.results import csv as outputs
from simbatch.present import plots
from simbatch.present import units
from simbatch.experiments.runs import Comparison
from simbatch.present.findings import findings
from simbatch.results.result import Result

if TYPE_CHECKING:
    from simbatch.history.backtest.replay import Backtest

__all__ = ["findings", "key_figures", "write_backtest_plot", "write_backtest_report",
           "write_report"]

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; color: #1d2433; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #dde3ee; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }
th, td { border: 1px solid #dde3ee; padding: .3rem .6rem; text-align: right; }
th { background: #f2f5fa; } td:first-child, th:first-child { text-align: left; }
.finding { background: #fff8e6; border-left: 4px solid #f0a500; padding: .5rem .8rem;
           margin: .5rem 0; } .ok { background: #eef8ee; border-left-color: #3a9a3a; }
img { max-width: 100%; border: 1px solid #dde3ee; margin: .5rem 0; }
.muted { color: #667085; font-size: .85rem; }
"""


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{html.escape(fig.axes[0].get_title())}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="-", escape=True)


png = _png
"""A figure as an inline PNG ``<img>`` (public name for the plan page)."""
table = _table
"""A table as HTML (public name for the plan page)."""


def key_figures(results: Mapping[str, Result]) -> pd.DataFrame:
    """The figures a decision maker reads first, one column per scenario."""
    rows: dict[str, dict[str, str]] = {}
    for name, result in results.items():
        tasks, jobs = result.tasks, result.jobs
        waits = tasks.wait.dropna()
        util = result.utilization()
        deadlines = result.deadlines()
        breakdown = result.wait_breakdown()
        rows[name] = {
            "job runs": f"{len(jobs):,}",
            "ended in Error": f"{int((jobs.status == 'Error').sum()):,}",
            "task attempts started": f"{len(waits):,}",
            "wait, mean": units.clock(waits.mean()),
            "wait, p95": units.clock(waits.quantile(0.95)) if len(waits) else "-",
            "busiest server": _busiest_server(util, result.utilization_by_hour()),
            "deadline misses": _misses(deadlines),
            "stranded wait": units.clock(pd.Timedelta(breakdown.stranded.sum())),
            "waiting at the horizon": f"{int(tasks.status.isin(['Ready', 'Waiting']).sum()):,}",
        }
    return pd.DataFrame(rows).rename_axis("figure").reset_index()


def _misses(deadlines: pd.DataFrame) -> str:
    """``2 of 14 judged runs (15.4%), 1 undetermined``: misses never count open runs as met."""
    if deadlines.empty:
        return "no deadlines"
    missed = int((deadlines.state == "missed").sum())
    judged = int(deadlines.state.isin(["met", "missed"]).sum())
    text = (f"{missed:,} of {judged:,} judged runs ({units.percent(missed / judged)})"
            if judged else "no run judged")
    undetermined = int((deadlines.state == "undetermined").sum())
    return text + (f", {undetermined:,} undetermined" if undetermined else "")


def _busiest_server(util: pd.DataFrame, hourly: pd.DataFrame) -> str:
    """The server busiest over the run, with its average and its busiest hour of the day."""
    if util.empty:
        return "-"
    top = util.sort_values("utilization").iloc[-1]
    mine = hourly[hourly.server == top["server"]].utilization
    peak = (f", {units.percent(mine.max(), 0)} in its busiest hour" if mine.notna().any()
            else "")
    return f"{top['server']} ({units.percent(top['utilization'], 0)} on average{peak})"


def write_report(results: Mapping[str, Result], out: str | Path,
                 comparison: Comparison | None = None) -> Path:
    """Write the report of one or several simulated scenarios to ``out`` (an HTML file)."""
    if not results:
        raise simbatch.UsageError("a report needs at least one scenario")
    names = list(results)
    parts = [f"<h1>Batch capacity what-if: {html.escape(', '.join(names))}</h1>",
             f"<p class='muted'>simbatch {simbatch.__version__}, generated"
             f" {datetime.now():%Y-%m-%d %H:%M}. Each scenario simulated with its seed; times"
             " in each scenario's time zone.</p>",
             "<h2>Key figures</h2>", _table(key_figures(results))]
    if comparison is not None and len(comparison.variants) > 1:
        shown = ["wait_mean_s", "wait_p95_s", "backlog_at_horizon", "jobs_error",
                 "deadline_misses", "deadline_miss", "deadline_undetermined", "lateness_p95_s",
                 "margin_min_s", "latest_finish_s"]
        diff = comparison.differences()
        diff = diff[diff.metric.isin(shown) & (diff.n > 0)].copy()
        diff["order"] = diff.metric.map(shown.index)
        diff = diff.sort_values(["variant", "order"], kind="stable")
        diff["difference (95% interval)"] = [
            units.estimate(m, mean, lo, hi) for m, mean, lo, hi in zip(
                diff.metric, diff["mean"], diff.ci_low, diff.ci_high, strict=True)]
        diff["metric"] = diff.metric.map(units.label)
        parts += [f"<h2>Differences from {html.escape(comparison.variants[0])}</h2>",
                  f"<p class='muted'>{int(diff.n.max()) if len(diff) else 0} replications"
                  " each on common random numbers (the same arrivals, durations and failures"
                  " in every variant), paired by replication. Times in h:mm:ss, shares in"
                  " percent; t intervals, and for the deadline miss share a paired score"
                  " interval (Newcombe).</p>",
                  _table(diff[["variant", "metric", "key", "difference (95% interval)"]])]
    for name, result in results.items():
        scenario = result.scenario
        parts.append(f"<h2>{html.escape(name)}</h2>")
        span = f"{scenario.start:%Y-%m-%d %H:%M} to {scenario.end:%Y-%m-%d %H:%M}"
        parts.append(f"<p class='muted'>{html.escape(scenario.name)}: {span}"
                     f" ({scenario.timezone}), {len(scenario.servers)} servers,"
                     f" {scenario.scheduling} scheduling, seed {result.seed}.</p>")
        found = findings(result)
        parts += [f"<div class='finding'>{html.escape(f)}</div>" for f in found] or [
            "<div class='finding ok'>No pitfall found: no group piles up, no capacity is"
            " stranded, no run failed or missed a deadline.</div>"]
        summary = result.summary()
        for column in ("wait_mean", "wait_p50", "wait_p95", "wait_max"):
            summary[column] = summary[column].map(units.clock)
        parts += ["<h3>Waits per group</h3>", _table(summary)]
        parts += _deadline_section(result)
        figures = [plots.utilization_heatmap(result), plots.wait_cdf(result),
                   plots.backlog(result), plots.job_timelines(result),
                   plots.gantt(result)]
        parts += ["<h3>Plots</h3>", *(_png(fig) for fig in figures)]
    return _page(f"simbatch report: {', '.join(names)}", parts, out)


def _page(title: str, parts: list[str], out: str | Path) -> Path:
    """Write one self-contained HTML page of ``parts`` to ``out``."""
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    path = Path(out)
    outputs.write_text(path, page)
    return path


def _error_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """An error table for reading: seconds as h:mm:ss, relative errors in percent."""
    shown = frame.copy()
    for column in ("actual", "simulated", "abs_error", "simulated_low", "simulated_high",
                   "predicted_low", "predicted_high"):
        if column in shown:
            shown[column] = shown[column].map(units.clock)
    shown["error"] = shown["error"].map(lambda e: "-" if pd.isna(e) else f"{e:+.1%}")
    return shown


def write_backtest_plot(test: Backtest, out: str | Path) -> Path:
    """Write the plot of actual against simulated waits per hour (``plots.backtest_waits``)."""
    buffer = io.BytesIO()
    plots.backtest_waits(test).savefig(buffer, format="png", dpi=100)
    path = Path(out)
    outputs.write_bytes(path, buffer.getvalue())
    return path


def write_backtest_report(test: Backtest, out: str | Path, history: str = "") -> Path:
    """Write a back-test's report to ``out`` (an HTML file): its errors, plot and notes."""
    scenario = test.scenario
    how = ("trace-driven replay: each run due at its OrigStartDateTime with the tasks it had,"
           " each attempt as long as recorded; only the queueing is simulated"
           if test.mode == "replay" else
           f"calibrated scenario, {int(test.simulated['replication'].max())} replications"
           f" seeded {test.seed}; simulated = their mean with its 95% interval, predicted ="
           " where one period's figure should fall if the model were right")
    parts = [f"<h1>Back-test: {html.escape(history or 'history')} on"
             f" {html.escape(scenario.name)}</h1>",
             f"<p class='muted'>simbatch {simbatch.__version__}, generated"
             f" {datetime.now():%Y-%m-%d %H:%M}. Mode: {html.escape(how)}. Period"
             f" {scenario.start:%Y-%m-%d %H:%M} to {scenario.end:%Y-%m-%d %H:%M}"
             f" ({scenario.timezone}); {len(test.runs):,} job runs, {len(test.tasks):,} task"
             f" runs. Task graph: {html.escape(test.graph)}.</p>",
             "<p class='muted'>wait: StartDateTime - OrigStartDateTime of a job run; delay: a"
             " task's start - the moment it became ready (a root task: its run's start; else"
             " the last end among the tasks it waits for; a runtime task: its parent's"
             " start); end: a run's end - its due time. error = (simulated - actual) /"
             " actual.</p>",
             *(f"<div class='finding'>{html.escape(n)}</div>" for n in test.notes),
             "<h2>Errors per group</h2>", _table(_error_rows(test.errors("group"))),
             "<h2>Job waits per hour of the day</h2>", _png(plots.backtest_waits(test))]
    hourly = test.errors("hour")
    hourly = hourly[(hourly["group"] == "all") & hourly["metric"].isin(
        ["wait_mean", "wait_p95", "delay_mean", "end_p95"])]
    parts.append(_table(_error_rows(hourly)))
    daily = test.errors("job")
    if len(daily):
        parts += ["<h2>Daily jobs</h2>", "<p class='muted'>Jobs due at one local time on"
                  " each day they run (a deadline-like schedule).</p>",
                  _table(_error_rows(daily[daily["metric"].isin(
                      ["wait_mean", "wait_max", "end_mean", "end_p95", "end_max"])]))]
    return _page(f"simbatch back-test: {scenario.name}", parts, out)


def _deadline_section(result: Result) -> list[str]:
    """The deadline summary per job, and the runs missed or undetermined."""
    deadlines = result.deadlines()
    if deadlines.empty:
        return []
    summary = result.deadline_summary()
    shown = pd.DataFrame({
        "job": summary.job, "runs judged": summary.runs, "missed": summary.missed,
        "miss share": summary.miss_share.map(units.percent),
        "undetermined": summary.undetermined,
        "lateness p50": summary.lateness_p50.map(units.clock),
        "lateness p95": summary.lateness_p95.map(units.clock),
        "smallest margin": summary.margin_min.map(units.clock),
        "latest finish after due": summary.latest_finish.map(units.clock)})
    parts = [f"<h3>Deadlines missed: {html.escape(_misses(deadlines))}</h3>",
             "<p class='muted'>Lateness is end - deadline (negative when early). A run still"
             " open at the horizon is missed once its deadline has passed (its lateness is"
             " then at least horizon - deadline) and undetermined before: it is counted as"
             " neither met nor missed.</p>", _table(shown)]
    notable = deadlines[deadlines.state != "met"]
    if len(notable):
        def when(t: Any) -> str:
            return "open at the horizon" if pd.isna(t) else f"{t:%a %Y-%m-%d %H:%M}"

        runs = notable.assign(lateness=notable.lateness.map(units.clock),
                              scheduled=notable.scheduled.map(when),
                              deadline=notable.deadline.map(when), end=notable.end.map(when))
        parts.append(_table(runs[["job", "run", "state", "scheduled", "deadline", "end",
                                  "lateness"]]))
    elif (deadlines.state == "met").all():
        parts.append("<p>Every run met its deadline.</p>")
    return parts
