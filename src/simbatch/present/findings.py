"""Findings: what a run's numbers say, in plain words, one finding per kind.

Each finding is backed by numbers and, where the numbers support one, ends with a concrete
suggestion: bind a group to the server that idled while it waited, move a heavy job after
the one it overlaps, raise a concurrency limit. They flag the batch framework's known
pitfalls: stranded capacity under affinity, groups piling up, long waits, heavy jobs
overlapping, runs left in Error, drifting schedules, skipped slots, missed and
undetermined deadlines.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from simbatch.present import units
from simbatch.results import metrics
from simbatch.results.result import Result

__all__ = ["CONTENTION", "LONG_WAIT", "findings"]

LONG_WAIT = pd.Timedelta("10min")
"""A group whose p95 wait reaches this is flagged even when nothing else explains it."""
CONTENTION = 0.10
"""Contention is a finding when it took at least this share of the time tasks ran."""


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
    out += _contention(result)
    return out


def _contention(result: Result) -> list[str]:
    """The database, not the threads, sets the run's length: contention stretched tasks."""
    table = metrics.database_summary(result)
    if table.empty or not table.lost_share.iloc[0] >= CONTENTION:
        return []
    row = table.iloc[0]
    tasks = _jobs_word(round(row.saturation_tasks), "concurrent task")
    return [f"Above {tasks} the database is saturated:"
            " more threads lengthen every task. It was saturated for"
            f" {units.clock(row.saturated)} ({units.percent(row.saturated_share, 0)} of the"
            f" horizon), with up to {row.peak_tasks:,} tasks (load {row.peak_load:g} against"
            f" a capacity of {row.capacity:g}); contention took"
            f" {units.percent(row.lost_share, 0)} of the time tasks ran"
            f" ({row.lost_hours:,.1f} thread-hours). Suggestion: limit concurrency"
            " (max_concurrency on the heaviest groups) or move heavy jobs apart rather than"
            " add threads."]


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
    """Missed deadlines (with how much of the lateness was waiting), failed runs (a miss
    whenever they ended) and undetermined runs."""
    table = result.deadlines()
    if table.empty:
        return []
    summary = result.deadline_summary()
    jobs = result.jobs[["job", "run", "wait"]]
    parts, waits = [], []
    for row in summary.to_dict("records"):
        name, missed, judged = str(row["job"]), int(row["missed"]), int(row["runs"])
        failed = int(row["failed"])
        if not missed and not failed:
            continue
        mine = table[(table.job == name) & (table.state == "missed")]
        late = (f"{missed:,} of {judged:,} judged runs late, by up to"
                f" {units.clock(mine.lateness.max())}" if missed else "")
        ended = (f"{failed:,} of {judged:,} judged runs failed: the job ended in Error, so"
                 " its chain did not complete" if failed else "")
        parts.append(f"{name} ({'; '.join(p for p in (late, ended) if p)})")
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
