"""The what-if report: one self-contained HTML page a planner can forward as it is.

It shows one or several scenarios side by side: key figures, findings in plain words
backed by numbers, waits per group, deadline misses, plots, and (for several scenarios)
the paired differences with confidence intervals. Plots are embedded as PNG data, styles
are inline, and the page makes no external request. The page is ``templates/whatif.html``
(see ``simbatch.present.pages``), which escapes every name it shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from simbatch.errors import UsageError
from simbatch.present import pages, plots, tables, units
from simbatch.present.backtest_report import write_backtest_plot, write_backtest_report
from simbatch.present.findings import findings
from simbatch.results.result import Result

__all__ = ["ComparisonView", "findings", "key_figures", "whatif_page", "write_backtest_plot",
           "write_backtest_report", "write_report"]

class ComparisonView(Protocol):
    """What the report reads of a comparison (``simbatch.experiments.runs.Comparison``)."""

    @property
    def variants(self) -> tuple[str, ...]:
        """The variants' names, the baseline first."""
        ...

    def differences(self, confidence: float = 0.95) -> pd.DataFrame:
        """Each variant minus the baseline, paired by replication, with intervals."""
        ...
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
    """``2 of 14 judged runs (15.4%), 1 undetermined``: misses never count open runs as met,
    and a failed run (its job ended in Error) is a miss."""
    if deadlines.empty:
        return "no deadlines"
    missed = int(deadlines.state.isin(["missed", "failed"]).sum())
    judged = int(deadlines.state.isin(["met", "missed", "failed"]).sum())
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
                 comparison: ComparisonView | None = None) -> Path:
    """Write the report of one or several simulated scenarios to ``out`` (an HTML file)."""
    return pages.write_page(out, whatif_page(results, comparison))


def whatif_page(results: Mapping[str, Result], comparison: ComparisonView | None = None) -> str:
    """The what-if report of ``results`` (named scenarios) as an HTML text.

    With a ``comparison`` of several variants, the page also shows each variant's paired
    differences from the first.
    """
    if not results:
        raise UsageError("a report needs at least one scenario")
    names = ", ".join(results)
    return pages.render(
        "whatif.html", title=f"simbatch report: {names}",
        heading=f"Batch capacity what-if: {names}", generated=pages.generated(),
        key_figures=pages.table(key_figures(results)),
        differences=_differences(comparison) if comparison is not None and len(
            comparison.variants) > 1 else None,
        scenarios=[_scenario(name, result) for name, result in results.items()])


def _differences(comparison: ComparisonView) -> dict[str, Any]:
    """The paired differences from the baseline, in the units a reader reads."""
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
    return {"base": comparison.variants[0],
            "replications": int(diff.n.max()) if len(diff) else 0,
            "table": pages.table(diff[["variant", "metric", "key",
                                       "difference (95% interval)"]])}


def _scenario(name: str, result: Result) -> dict[str, Any]:
    """One scenario's section: its findings, waits, deadlines and plots."""
    scenario = result.scenario
    summary = result.summary()
    for column in ("wait_mean", "wait_p50", "wait_p95", "wait_max"):
        summary[column] = summary[column].map(units.clock)
    figures = [plots.utilization_heatmap(result), plots.wait_cdf(result),
               plots.backlog(result), plots.job_timelines(result), plots.gantt(result)]
    return {"name": name, "scenario": scenario.name,
            "span": f"{scenario.start:%Y-%m-%d %H:%M} to {scenario.end:%Y-%m-%d %H:%M}",
            "timezone": scenario.timezone, "servers": len(scenario.servers),
            "scheduling": scenario.scheduling, "seed": result.seed,
            "findings": findings(result), "summary": pages.table(summary),
            "deadlines": _deadlines(result), "plots": [pages.image(f) for f in figures]}


def _deadlines(result: Result) -> dict[str, Any] | None:
    """The deadline summary per job, and the runs missed or undetermined (None: no deadline)."""
    deadlines = result.deadlines()
    if deadlines.empty:
        return None
    shown = tables.deadline_table(result.deadline_summary())
    notable = deadlines[deadlines.state != "met"]
    runs = None
    if len(notable):
        def when(t: Any) -> str:
            return "open at the horizon" if pd.isna(t) else f"{t:%a %Y-%m-%d %H:%M}"

        late = notable.assign(lateness=notable.lateness.map(units.clock),
                              scheduled=notable.scheduled.map(when),
                              deadline=notable.deadline.map(when), end=notable.end.map(when))
        runs = pages.table(late[["job", "run", "state", "scheduled", "deadline", "end",
                                 "lateness"]])
    return {"misses": _misses(deadlines), "jobs": pages.table(shown), "runs": runs,
            "all_met": bool((deadlines.state == "met").all())}
