"""The what-if report: one self-contained HTML page a planner can forward as it is.

It shows one or several scenarios side by side: key figures, findings in plain words
backed by numbers, waits per group, deadline misses, plots, and (for several scenarios)
the paired differences with confidence intervals. Plots are embedded as PNG data, styles
are inline, and the page makes no external request.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import simbatch
from simbatch import outputs, plots
from simbatch.experiments import Comparison
from simbatch.results import Result

__all__ = ["findings", "key_figures", "write_report"]

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


def _clock(value: object) -> str:
    if not isinstance(value, pd.Timedelta) or pd.isna(value):
        return "-"
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{html.escape(fig.axes[0].get_title())}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="-", escape=True)


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
            "wait, mean": _clock(waits.mean()),
            "wait, p95": _clock(waits.quantile(0.95)) if len(waits) else "-",
            "busiest server": _busiest_server(util, result.utilization_by_hour()),
            "deadline misses": (f"{int((~deadlines.met.fillna(True)).sum())} of"
                                f" {len(deadlines)}") if len(deadlines) else "no deadlines",
            "stranded wait (hours)":
                f"{pd.Timedelta(breakdown.stranded.sum()).total_seconds() / 3600:,.1f}",
            "waiting at the horizon": f"{int(tasks.status.isin(['Ready', 'Waiting']).sum()):,}",
        }
    return pd.DataFrame(rows).rename_axis("figure").reset_index()


def _busiest_server(util: pd.DataFrame, hourly: pd.DataFrame) -> str:
    """The server busiest over the run, with its average and its busiest hour of the day."""
    if util.empty:
        return "-"
    top = util.sort_values("utilization").iloc[-1]
    mine = hourly[hourly.server == top["server"]].utilization
    peak = f", {float(mine.max()):.0%} in its busiest hour" if mine.notna().any() else ""
    return f"{top['server']} ({float(top['utilization']):.0%} on average{peak})"


def findings(result: Result) -> list[str]:
    """Plain-words findings, each backed by numbers (the seed document's pitfalls)."""
    out: list[str] = []
    tasks, jobs = result.tasks, result.jobs
    breakdown = result.wait_breakdown()
    zone = result.scenario.timezone
    # affinity strands capacity: a group whose waits are mostly spent beside idle threads
    for group, rows in breakdown.groupby("group"):
        total = pd.Timedelta(rows.wait.sum())
        stranded = pd.Timedelta(rows.stranded.sum())
        if total > pd.Timedelta("10min") and stranded > 0.3 * total:
            ready = tasks[(tasks.group == group) & tasks.start.notna()]
            hourly = ready.groupby(ready.ready.dt.floor("h")).wait.quantile(0.95)
            worst = pd.Timestamp(hourly.index[int(np.argmax(hourly.to_numpy()))])
            window = ready[ready.ready.dt.floor("h") == worst]
            util = result.utilization_by_hour()
            hour = worst.tz_convert(zone).hour
            idle = util[util.hour == hour].set_index("server").utilization
            spare = idle.idxmin() if len(idle) else "?"
            out.append(
                f"{group} waited p95 {_clock(window.wait.quantile(0.95))} between"
                f" {worst:%H:%M} and {worst + pd.Timedelta('1h'):%H:%M} on {worst:%a %d %b},"
                f" while {spare} was {1 - idle.min():.0%} idle at that hour: affinity strands"
                f" capacity ({stranded / total:.0%} of {group}'s wait was spent beside idle"
                " threads it may not use).")
    # an under-allocated group piling up: its backlog grows and does not drain
    backlog = result.backlog()
    for group, rows in backlog.groupby("group"):
        if len(rows) < 2:
            continue
        at = int(np.argmax(rows.waiting.to_numpy()))
        most, when = int(rows.waiting.iloc[at]), pd.Timestamp(rows.time.iloc[at])
        last = int(rows.waiting.iloc[-1])
        if most >= 20 and last >= 0.5 * most:
            out.append(f"{group} piles up: {most} tasks were waiting at"
                       f" {when:%a %H:%M} and {last} still waited at the horizon;"
                       " the group is under-allocated.")
    # heavy jobs overlapping: long runs of different jobs at the same time
    heavy = jobs[jobs.duration > pd.Timedelta("1h")]
    runs = list(zip(heavy.job.astype(str).tolist(), heavy.start.tolist(), heavy.end.tolist(),
                    strict=True))
    pairs: set[tuple[str, str]] = set()
    for a_job, a_start, a_end in runs:
        for b_job, b_start, b_end in runs:
            if a_job < b_job and a_start < b_end and b_start < a_end:
                pairs.add((a_job, b_job))
    for a_name, b_name in sorted(pairs)[:3]:
        out.append(f"Heavy jobs overlap: runs of {a_name} and {b_name} (each over an hour)"
                   " ran at the same time; spreading them apart frees threads for both.")
    # failed jobs left in Error
    errors = jobs[jobs.status == "Error"].groupby("job").size()
    for job, count in errors.sort_values(ascending=False).head(3).items():
        out.append(f"{count} run{'s' if count > 1 else ''} of {job} ended in Error; failed"
                   " jobs left in Error mean downstream work misses its data.")
    # schedule drift and skipped slots
    for job in result.scenario.jobs:
        mine = jobs[jobs.job == job.name]
        recurrence = job.recurrence
        step = recurrence.step() if recurrence is not None else None
        if (recurrence is not None and recurrence.anchor == "end" and len(mine) > 1
                and isinstance(step, dt.timedelta)):
            drift = (mine.scheduled.iloc[-1] - mine.scheduled.iloc[0]) - (
                len(mine) - 1) * pd.Timedelta(step)
            out.append(f"{job.name} drifts: each run is due one interval after the last ended,"
                       f" so by run {len(mine)} it had moved {_clock(drift)} off its slots.")
        skipped = int(mine.skipped.sum())
        if skipped:
            out.append(f"{job.name} skipped {skipped} recurrence slot"
                       f"{'s' if skipped > 1 else ''} because earlier runs were still"
                       " running.")
    # deadlines
    deadlines = result.deadlines()
    for job, rows in deadlines.groupby("job"):
        missed = rows[rows.met.fillna(True) == False]  # noqa: E712 - a nullable boolean
        if len(missed):
            out.append(f"{job!s} missed its deadline {len(missed)} of {len(rows)} times, by up"
                       f" to {_clock(missed.lateness.max())}.")
    return out


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
        diff = comparison.differences()
        diff = diff[diff.metric.isin(["wait_mean_s", "wait_p95_s", "backlog_at_horizon",
                                      "jobs_error"]) & (diff.n > 0)].copy()
        diff["difference (95% interval)"] = [
            f"{m:,.1f} [{lo:,.1f}, {hi:,.1f}]" if pd.notna(lo) else f"{m:,.1f}"
            for m, lo, hi in zip(diff["mean"], diff.ci_low, diff.ci_high, strict=True)]
        parts += [f"<h2>Differences from {html.escape(comparison.variants[0])}</h2>",
                  f"<p class='muted'>{int(diff.n.max()) if len(diff) else 0} replications"
                  " each on common random numbers (the same arrivals, durations and failures"
                  " in every variant), paired by replication. Waits in seconds.</p>",
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
            summary[column] = summary[column].map(_clock)
        parts += ["<h3>Waits per group</h3>", _table(summary)]
        deadlines = result.deadlines()
        missed = deadlines[deadlines.met.fillna(True) == False]  # noqa: E712
        if len(deadlines):
            shown = missed.assign(lateness=missed.lateness.map(_clock))
            parts += [f"<h3>Deadline misses ({len(missed)} of {len(deadlines)} runs)</h3>",
                      _table(shown[["job", "run", "scheduled", "deadline", "end", "lateness"]])
                      if len(missed) else "<p>Every run met its deadline.</p>"]
        figures = [plots.utilization_heatmap(result), plots.wait_cdf(result),
                   plots.backlog(result), plots.job_timelines(result),
                   plots.gantt(result, start=_busiest(result), hours=6)]
        parts += ["<h3>Plots</h3>", *(_png(fig) for fig in figures)]
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>simbatch report: {html.escape(', '.join(names))}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    path = Path(out)
    outputs.write_text(path, page)
    return path


def _busiest(result: Result) -> pd.Timestamp:
    """The start of the six hours with the most waiting work, for the Gantt window."""
    backlog = result.backlog()
    start = pd.Timestamp(result.scenario.start)
    if backlog.empty:
        return start
    hourly = backlog.set_index("time").waiting.resample("6h", origin=start).mean()
    if hourly.empty or np.isnan(hourly.max()):
        return start
    return pd.Timestamp(hourly.index[int(np.nanargmax(hourly.to_numpy()))])
