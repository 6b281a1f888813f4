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
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import simbatch
from simbatch import metrics, plots, units
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


LONG_WAIT = pd.Timedelta("10min")
"""A group whose p95 wait reaches this is flagged even when nothing else explains it."""


def _names_counts(items: list[tuple[str, str]]) -> str:
    """``A (22), B (2), C (1)`` from (name, detail) pairs."""
    return ", ".join(f"{name} ({detail})" for name, detail in items)


def _jobs_word(n: int, what: str = "job") -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def findings(result: Result) -> list[str]:
    """Plain-words findings, one per kind, each backed by numbers and where the numbers
    support one, with a concrete suggestion (the seed document's pitfalls)."""
    out: list[str] = []
    breakdown = result.wait_breakdown()
    explained: set[str] = set()
    out += _stranded(result, breakdown, explained)
    out += _piling_up(result, explained)
    out += _long_waits(result, breakdown, explained)
    out += _heavy_overlaps(result)
    jobs = result.jobs
    errors = jobs[jobs.status == "Error"].groupby("job", sort=False).size().sort_values(
        ascending=False, kind="stable")
    if len(errors):
        out.append(f"{_jobs_word(len(errors))} left runs in Error: "
                   f"{_names_counts([(str(j), f'{n:,}') for j, n in errors.items()])};"
                   " failed jobs left in Error mean downstream work misses its data.")
    out += _schedules(result)
    out += _deadline_findings(result)
    return out


def _stranded(result: Result, breakdown: pd.DataFrame, explained: set[str]) -> list[str]:
    """Groups whose waits were mostly spent beside idle threads they may not use."""
    tasks = result.tasks
    zone = result.scenario.timezone
    sets = metrics.eligible_servers(result.scenario)
    names = [s.name for s in result.scenario.servers]
    util = result.utilization_by_hour()
    parts, suggestions = [], []
    for group, rows in breakdown.groupby("group", sort=False):
        total = pd.Timedelta(rows.wait.sum())
        stranded = pd.Timedelta(rows.stranded.sum())
        if not (total > pd.Timedelta("10min") and stranded > 0.3 * total):
            continue
        explained.add(str(group))
        ready = tasks[(tasks.group == group) & tasks.start.notna()]
        hourly = ready.groupby(ready.ready.dt.floor("h")).wait.quantile(0.95)
        worst = pd.Timestamp(hourly.index[int(np.argmax(hourly.to_numpy()))])
        window = ready[ready.ready.dt.floor("h") == worst]
        own = {names[i] for (_, g), allowed in sets.items() if g == group for i in allowed}
        hour = worst.tz_convert(zone).hour
        idle = util[(util.hour == hour) & ~util.server.isin(own)].set_index("server").utilization
        detail = (f"{group}: {units.percent(stranded / total, 0)} of its {units.clock(total)}"
                  f" wait, p95 {units.clock(window.wait.quantile(0.95))} between"
                  f" {worst:%H:%M} and {worst + pd.Timedelta('1h'):%H:%M} on {worst:%a %d %b}")
        if idle.notna().any():
            spare = str(idle.idxmin())
            detail += f", while {spare} was {units.percent(1 - idle.min(), 0)} idle"
            listed = ", ".join([n for n in names if n in own] + [spare])
            suggestions.append(f"bind {group} to {spare} as well (groups.{group}.servers:"
                               f" [{listed}])")
        parts.append(detail)
    if not parts:
        return []
    text = (f"Affinity strands capacity in {_jobs_word(len(parts), 'group')} (waits spent"
            f" beside idle threads they may not use): {'; '.join(parts)}.")
    if suggestions:
        text += f" Suggestion: {'; '.join(suggestions)}, or schedule by priority."
    return [text]


def _piling_up(result: Result, explained: set[str]) -> list[str]:
    """Groups whose backlog grows and does not drain by the horizon."""
    parts = []
    for group, rows in result.backlog().groupby("group", sort=False):
        if len(rows) < 2:
            continue
        at = int(np.argmax(rows.waiting.to_numpy()))
        most, when = int(rows.waiting.iloc[at]), pd.Timestamp(rows.time.iloc[at])
        last = int(rows.waiting.iloc[-1])
        if most >= 20 and last >= 0.5 * most:
            explained.add(str(group))
            parts.append(f"{group} ({most:,} waiting at {when:%a %H:%M}, {last:,} still"
                         " waiting at the horizon)")
    if not parts:
        return []
    return [f"Piling up in {_jobs_word(len(parts), 'group')} (under-allocated):"
            f" {'; '.join(parts)}. Suggestion: give them more threads, or servers of their"
            " own."]


_PARTS = {"capacity": "every thread busy", "poll": "waiting for a poll",
          "held": "held by max concurrency", "stranded": "beside idle threads it may not use"}
_ADVICE = {"capacity": "add threads to its servers, or move heavy work apart in time",
           "poll": "its waits are mostly the poll interval; shorter polling would cut them",
           "held": "raise its max_concurrency",
           "stranded": "bind it to more servers, or schedule by priority"}


def _long_waits(result: Result, breakdown: pd.DataFrame, explained: set[str]) -> list[str]:
    """Groups with long waits that no other finding explains, with where the wait went."""
    parts, advice = [], []
    for group, rows in breakdown.groupby("group", sort=False):
        p95: Any = rows.wait.quantile(0.95)
        if str(group) in explained or p95 < LONG_WAIT:
            continue
        total = pd.Timedelta(rows.wait.sum())
        shares = {k: pd.Timedelta(rows[k].sum()) / total for k in _PARTS} if total > \
            pd.Timedelta(0) else {}
        split = ", ".join(f"{units.percent(v, 0)} {_PARTS[k]}" for k, v in
                          sorted(shares.items(), key=lambda kv: -kv[1]) if v > 0)
        parts.append(f"{group}: p95 {units.clock(p95)}, mean {units.clock(rows.wait.mean())}"
                     f" over {len(rows):,} attempts ({split})")
        if shares:
            advice.append(f"{group}: {_ADVICE[max(shares, key=lambda k: shares[k])]}")
    if not parts:
        return []
    return [f"Long waits in {_jobs_word(len(parts), 'group')}: {'; '.join(parts)}."
            f" Suggestion: {'; '.join(advice)}."]


def _heavy_overlaps(result: Result) -> list[str]:
    """Long runs of different jobs at the same time, with when to move one of them."""
    jobs = result.jobs
    heavy = jobs[jobs.duration > pd.Timedelta("1h")]
    runs = list(zip(heavy.job.astype(str).tolist(), heavy.start.tolist(), heavy.end.tolist(),
                    strict=True))
    pairs: dict[tuple[str, str], list[pd.Timedelta]] = {}
    for a_job, a_start, a_end in runs:
        for b_job, b_start, b_end in runs:
            if a_job < b_job and a_start < b_end and b_start < a_end:
                pairs.setdefault((a_job, b_job), []).append(min(a_end, b_end)
                                                            - max(a_start, b_start))
    if not pairs:
        return []
    ranked = sorted(pairs.items(), key=lambda kv: -sum(kv[1], pd.Timedelta(0)))
    parts = [f"{a} and {b} ({len(spans):,} times, {units.clock(sum(spans, pd.Timedelta(0)))}"
             " together)" for (a, b), spans in ranked[:3]]
    (a, b), _ = ranked[0]
    mean = {name: pd.Timedelta(heavy[heavy.job == name].duration.mean()) for name in (a, b)}
    mover, stay = (a, b) if mean[a] <= mean[b] else (b, a)
    ends = heavy[heavy.job == stay].end
    typical = pd.Timestamp(ends.sort_values().iloc[len(ends) // 2])
    return [f"Heavy jobs overlap (runs over an hour at the same time): {'; '.join(parts)}."
            f" Suggestion: move {mover} (runs {units.clock(mean[mover])} on average) to start"
            f" after {stay} ends (its median end is {typical:%H:%M}), which frees threads"
            " for both."]


def _schedules(result: Result) -> list[str]:
    """Drifting schedules and skipped recurrence slots, one finding each."""
    jobs = result.jobs
    drifting, skipping = [], []
    for job in result.scenario.jobs:
        mine = jobs[jobs.job == job.name]
        recurrence = job.recurrence
        step = recurrence.step() if recurrence is not None else None
        if (recurrence is not None and recurrence.anchor == "end" and len(mine) > 1
                and isinstance(step, dt.timedelta)):
            drift = (mine.scheduled.iloc[-1] - mine.scheduled.iloc[0]) - (
                len(mine) - 1) * pd.Timedelta(step)
            drifting.append((job.name, f"{units.clock(drift)} off its slots by run"
                                       f" {len(mine)}"))
        skipped = int(mine.skipped.sum())
        if skipped:
            skipping.append((job.name, f"{skipped:,}"))
    out = []
    if drifting:
        out.append(f"Drifting schedules in {_jobs_word(len(drifting))} (each run due one"
                   f" interval after the last ended): {_names_counts(drifting)}. Suggestion:"
                   " anchor: slot keeps runs on their slots.")
    if skipping:
        out.append(f"Skipped recurrence slots in {_jobs_word(len(skipping))} (earlier runs"
                   f" were still running): {_names_counts(skipping)}.")
    return out


def _deadline_findings(result: Result) -> list[str]:
    """Missed deadlines (with how much of the lateness was waiting) and undetermined runs."""
    table = result.deadlines()
    if table.empty:
        return []
    summary = result.deadline_summary()
    jobs = result.jobs[["job", "run", "wait"]]
    parts, waits = [], []
    for row in summary.to_dict("records"):
        name, missed, judged = str(row["job"]), int(row["missed"]), int(row["runs"])
        if not missed:
            continue
        mine = table[(table.job == name) & (table.state == "missed")]
        parts.append(f"{name} ({missed:,} of {judged:,} judged runs, by up to"
                     f" {units.clock(mine.lateness.max())})")
        finished = mine[mine.finished.astype(bool)].merge(jobs, on=["job", "run"])
        if len(finished):
            saved = int((finished.lateness <= finished.wait).sum())
            if saved:
                waits.append(f"{saved:,} of {name}'s late runs waited longer to start than"
                             " they were late, so starting on time alone would have met"
                             " the deadline")
    out = []
    if parts:
        text = f"Missed deadlines in {_jobs_word(len(parts))}: {'; '.join(parts)}."
        if waits:
            text += f" {'; '.join(waits)}: give their group threads at that hour."
        out.append(text)
    open_runs = summary[summary.undetermined > 0]
    if len(open_runs):
        items = [(str(j), f"{n:,}") for j, n in zip(open_runs.job, open_runs.undetermined,
                                                     strict=True)]
        out.append(f"Undetermined deadlines in {_jobs_word(len(items))} (runs still open at"
                   f" the horizon before their deadline): {_names_counts(items)}; they count"
                   " as neither met nor missed. Simulate past their deadline to judge them.")
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
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>simbatch report: {html.escape(', '.join(names))}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


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
