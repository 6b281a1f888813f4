"""Plots of a run: each takes a ``Result`` and returns a matplotlib ``Figure``.

They use matplotlib's object API only (no pyplot state), so they render under any
backend, including the non-interactive one of servers and CI, and they stay readable for
tenants of 50 servers and tens of thousands of tasks by windowing, aggregating or
thinning what they draw.

Names (of scenarios, jobs, tasks, groups, servers) are drawn as written: every text of a
figure is literal (``literal``), never matplotlib mathtext, so ``Post $ invoices $``
shows its dollars and a name such as ``bad $\\foo{$`` cannot break a plot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import PercentFormatter

from simbatch.results import metrics
from simbatch.results.result import Result

__all__ = ["BacktestView", "ScenarioView", "backlog", "backtest_hourly_waits",
           "backtest_waits", "database_load", "default_window", "gantt", "job_timelines", "literal",
           "utilization_heatmap", "wait_cdf"]

MAX_POINTS = 5_000
"""Most points a curve keeps; longer series are thinned evenly."""


def literal(fig: Figure) -> Figure:
    """``fig`` with every text in it (titles, labels, tick labels, legends, annotations)
    drawn literally: a ``$`` is a dollar sign, never the start of mathtext. Returns ``fig``.

    Call it once the figure's texts are made (the plots here do, before laying out);
    tick labels a locator makes later, at drawing, are numbers and times, never names.
    """
    for artist in fig.findobj(Text):
        if isinstance(artist, Text):
            artist.set_parse_math(False)
    return fig


def _laid_out(fig: Figure) -> Figure:
    """``fig`` with literal texts, laid out tightly."""
    literal(fig)
    fig.tight_layout()
    return fig


def _thin(frame: pd.DataFrame, limit: int = MAX_POINTS) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    return frame.iloc[np.linspace(0, len(frame) - 1, limit).astype(int)]


def _num(times: pd.Series | pd.DatetimeIndex | pd.Timestamp) -> np.ndarray:
    """Tz-aware times as matplotlib date numbers (days since the epoch, in UTC)."""
    if isinstance(times, pd.Timestamp):
        times = pd.DatetimeIndex([times])
    ns = pd.DatetimeIndex(times).tz_convert("UTC").as_unit("ns").asi8  # never NaT here
    out: np.ndarray = ns / DAY_NS  # matplotlib's default epoch is 1970-01-01 UTC
    return out


DAY_NS = 86_400 * 10**9


def _time(number: float) -> pd.Timestamp:
    """A matplotlib date number back as a UTC Timestamp."""
    return pd.Timestamp(round(number * DAY_NS), unit="ns", tz="UTC")


def _clock_axis(ax: Axes, zone: str, begin: pd.Timestamp, finish: pd.Timestamp) -> None:
    """Label the x axis in clock time of the scenario's zone, with the dates it spans."""
    locator = mdates.AutoDateLocator(  # type: ignore[no-untyped-call]
        tz=ZoneInfo(zone), minticks=4, maxticks=10)
    several_days = (finish - begin) > pd.Timedelta("20h")
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.DateFormatter(  # type: ignore[no-untyped-call]
        "%a %H:%M" if several_days else "%H:%M", tz=ZoneInfo(zone))
    ax.xaxis.set_major_formatter(formatter)
    local_begin, local_end = begin.tz_convert(zone), finish.tz_convert(zone)
    dates = (f"{local_begin:%a %d %b %Y}" if local_begin.date() == local_end.date()
             else f"{local_begin:%a %d %b} to {local_end:%a %d %b %Y}")
    ax.set_xlabel(f"clock time ({zone}), {dates}")


def default_window(result: Result) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The Gantt's default window: around the latest deadline, else the busiest night.

    - With deadlines: from when the run with the latest deadline inside the horizon was due
      to a little past its deadline or its end, whichever is later.
    - Without: the local night (18:00 to 08:00) with the most busy thread-time, to its end.

    Windows are clipped to the horizon and to at most a day.
    """
    scenario = result.scenario
    origin, horizon = pd.Timestamp(scenario.start), pd.Timestamp(scenario.end)
    deadlines = result.deadlines()
    inside = deadlines[deadlines.deadline <= horizon]
    chosen = inside if len(inside) else deadlines
    if len(chosen):
        row: Any = chosen.sort_values(["deadline", "run"], kind="stable").iloc[-1]
        begin = pd.Timestamp(row["scheduled"])
        last = max(pd.Timestamp(row["end"]) if pd.notna(row["end"]) else horizon,
                   pd.Timestamp(row["deadline"]))
        finish = last + max((last - begin) * 0.1, pd.Timedelta("15min"))
    else:
        begin, finish = _busiest_night(result)
    finish = min(finish, horizon)
    begin = max(begin, origin, finish - pd.Timedelta(days=1))
    if finish <= begin:
        begin, finish = origin, min(origin + pd.Timedelta("6h"), horizon)
    return begin, finish


def _busiest_night(result: Result) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The local night, 18:00 to 08:00, with the most busy thread-time."""
    scenario = result.scenario
    zone = scenario.timezone
    origin, horizon = pd.Timestamp(scenario.start), pd.Timestamp(scenario.end)
    tasks = result.tasks[result.tasks.start.notna()]
    first = origin.tz_convert(zone).normalize() - pd.Timedelta(days=1)
    best, best_busy = (origin, min(origin + pd.Timedelta("6h"), horizon)), -1.0
    day = first
    starts, ends = tasks.start, tasks.end.fillna(horizon)
    while day < horizon:
        night = (day.replace(hour=18), (day + pd.Timedelta(days=1)).normalize().replace(hour=8))
        night = (pd.Timestamp(night[0]), pd.Timestamp(night[1]))
        low, high = max(night[0], origin), min(night[1], horizon)
        if low < high:
            overlap = (ends.where(ends < high, high)
                       - starts.where(starts > low, low)).dt.total_seconds()
            busy = float(overlap[overlap > 0].sum())
            if busy > best_busy:
                best, best_busy = (low, high), busy
        day = (day + pd.Timedelta(days=1) + pd.Timedelta("2h")).normalize()  # across DST
    return best


def gantt(result: Result, start: str | pd.Timestamp | None = None,
          hours: float | None = None) -> Figure:
    """Attempts as bars per server and thread, in clock time of the scenario's zone.

    By default the window is ``default_window``: around the latest deadline, or the busiest
    night. ``start`` (a local time, or a Timestamp) and ``hours`` (default 6) set it.
    """
    tasks = result.tasks[result.tasks.start.notna()]
    zone = result.scenario.timezone
    horizon = pd.Timestamp(result.scenario.end)
    if start is None and hours is None:
        begin, finish = default_window(result)
    else:
        begin = (pd.Timestamp(start).tz_localize(zone) if isinstance(start, str)
                 else pd.Timestamp(start) if start is not None
                 else pd.Timestamp(result.scenario.start))
        finish = begin + pd.Timedelta(hours=6.0 if hours is None else hours)
    ends = tasks.end.fillna(horizon)
    shown = tasks[(tasks.start < finish) & (ends > begin)].assign(end=ends)
    rows: list[str] = []
    lanes_of: list[tuple[int, pd.Timestamp, pd.Timestamp, str]] = []
    groups = sorted(shown.group.dropna().unique())
    colors = {g: f"C{i % 10}" for i, g in enumerate(groups)}
    for server in [s.name for s in result.scenario.servers]:
        mine = shown[shown.server == server].sort_values("start")
        lanes: list[pd.Timestamp] = []  # when each thread lane frees up
        for row in zip(mine.start, mine.end, mine.group, strict=True):
            lane = next((i for i, free in enumerate(lanes) if free <= row[0]), len(lanes))
            if lane == len(lanes):
                lanes.append(row[1])
                rows.append(f"{server} #{lane + 1}")
            lanes[lane] = row[1]
            lanes_of.append((len(rows) - len(lanes) + lane, row[0], row[1], colors[row[2]]))
    fig = Figure(figsize=(11, max(3.0, min(0.18 * len(rows) + 1.5, 30))))
    ax = fig.add_subplot()
    if lanes_of:
        left = _num(pd.Series([max(b[1], begin) for b in lanes_of]))
        right = _num(pd.Series([min(b[2], finish) for b in lanes_of]))
        for (y, _, _, color), x0, x1 in zip(lanes_of, left, right, strict=True):
            ax.broken_barh([(x0, x1 - x0)], (y - 0.4, 0.8), facecolors=color, linewidth=0)
    ax.set_yticks(range(len(rows)), rows, fontsize=max(4, 9 - len(rows) // 40))
    ax.invert_yaxis()
    ax.set_xlim(_num(begin)[0], _num(finish)[0])
    _clock_axis(ax, zone, begin, finish)
    deadlines = result.deadlines()
    marks = deadlines[(deadlines.deadline >= begin) & (deadlines.deadline <= finish)]
    for when in sorted(set(marks.deadline)):
        jobs = ", ".join(sorted({str(j) for j in marks.job[marks.deadline == when]}))
        moment = pd.Timestamp(when)
        ax.axvline(_num(moment)[0], color="k", linestyle="--", linewidth=1,
                   label=f"deadline {moment.tz_convert(zone):%H:%M} ({jobs})")
    ax.set_title(f"{result.scenario.name}: attempts by server and thread")
    for group, color in colors.items():
        ax.plot([], [], color=color, linewidth=6, label=group)
    if colors or len(marks):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8,
                  title="group")  # beside the axes, never over the bars
    return _laid_out(fig)


def utilization_heatmap(result: Result) -> Figure:
    """Utilization by local hour of the day (columns) and server (rows)."""
    table = result.utilization_by_hour().pivot(index="server", columns="hour",
                                               values="utilization")
    table = table.reindex([s.name for s in result.scenario.servers])
    fig = Figure(figsize=(11, max(2.5, min(0.3 * len(table) + 1.5, 20))))
    ax = fig.add_subplot()
    image = ax.imshow(table.to_numpy(dtype=float), aspect="auto", vmin=0, vmax=1,
                      cmap="viridis", interpolation="nearest")
    ax.set_xticks(range(len(table.columns)), [f"{h:02d}" for h in table.columns], fontsize=8)
    ax.set_yticks(range(len(table)), table.index, fontsize=max(4, 9 - len(table) // 15))
    ax.set_xlabel(f"hour of the day ({result.scenario.timezone})")
    ax.set_title(f"{result.scenario.name}: utilization (busy ÷ available thread-seconds)")
    fig.colorbar(image, ax=ax, label="utilization", format=PercentFormatter(xmax=1))
    return _laid_out(fig)


def wait_cdf(result: Result) -> Figure:
    """The distribution of waits per group, as cumulative curves."""
    tasks = result.tasks[result.tasks.start.notna()]
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    longest = 1.0
    for group, rows in tasks.groupby("group"):
        minutes = np.sort(rows.wait.dt.total_seconds().to_numpy()) / 60
        longest = max(longest, float(minutes[-1]) if len(minutes) else 0.0)
        share = np.arange(1, len(minutes) + 1) / len(minutes)
        keep = _thin(pd.DataFrame({"m": minutes, "s": share}))
        ax.step(keep.m, keep.s, where="post", label=f"{group} ({len(minutes):,})")
    ax.set_xscale("symlog", linthresh=1)
    ticks = [t for t in (0, 0.5, 1, 2, 5, 10, 30, 60, 120, 240, 480, 1440) if t <= longest * 1.5]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("wait (minutes; symmetric log scale: linear up to 1 minute, logarithmic"
                  " beyond)")
    ax.set_ylabel("share of attempts")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="group (attempts)")
    ax.set_title(f"{result.scenario.name}: how long work waits")
    return _laid_out(fig)


def backlog(result: Result) -> Figure:
    """Tasks waiting per group over time, and beside it their profile by hour of the day."""
    table = result.backlog()
    zone = result.scenario.timezone
    fig = Figure(figsize=(11, 4.5))
    ax, profile = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
    for i, (group, rows) in enumerate(table.groupby("group", sort=False)):
        if len(rows) > MAX_POINTS:  # keep each minute's peak, so bursts stay visible
            rows = (rows.set_index("time").waiting.resample("1min").max().ffill()
                    .reset_index())
        ax.step(_num(rows.time), rows.waiting, where="post", label=group, color=f"C{i % 10}")
    ax.set_ylabel("tasks waiting")
    ax.set_title(f"{result.scenario.name}: backlog per group")
    ax.grid(alpha=0.3)
    begin, finish = pd.Timestamp(result.scenario.start), pd.Timestamp(result.scenario.end)
    ax.set_xlim(_num(begin)[0], _num(finish)[0])
    _clock_axis(ax, zone, begin, finish)
    by_hour = metrics.backlog_by_hour(result)
    for i, (group, rows) in enumerate(by_hour.groupby("group", sort=False)):
        profile.plot(rows.hour, rows.waiting_mean, marker="o", markersize=3,
                     color=f"C{i % 10}", label=f"{group}, mean")
        profile.plot(rows.hour, rows.waiting_max, linestyle=":", color=f"C{i % 10}",
                     label=f"{group}, peak")
    profile.set_xticks(range(0, 24, 3), [f"{h:02d}" for h in range(0, 24, 3)])
    profile.set_xlim(-0.5, 23.5)
    profile.set_xlabel(f"hour of the day ({zone})")
    profile.set_title("by hour (line: mean, dotted: peak)", fontsize=9)
    profile.grid(alpha=0.3)
    if len(table):
        ax.legend(fontsize=8, title="group")
    fig.autofmt_xdate()
    return _laid_out(fig)


def job_timelines(result: Result, limit: int = 200) -> Figure:
    """Runs from due to end against their deadlines, in clock time (latest runs first).

    Only the part of a run past its deadline is red; a run that failed (its job ended in
    Error, so its chain did not complete) is drawn in purple whole, a miss whenever it
    ended; a run still open at the horizon before its deadline (undetermined) is grey up to
    the horizon.
    """
    deadlines = result.deadlines()
    jobs = result.jobs
    zone = result.scenario.timezone
    if len(deadlines):
        runs = deadlines.rename(columns={"scheduled": "due"})
    else:
        runs = jobs.rename(columns={"scheduled": "due"})
        runs["deadline"] = pd.Series(pd.NaT, index=runs.index, dtype=f"datetime64[ns, {zone}]")
        runs["state"] = "none"
    runs = runs.sort_values("due").tail(limit)
    horizon = pd.Timestamp(result.scenario.end)
    fig = Figure(figsize=(11, max(3.0, min(0.12 * len(runs) + 1.5, 24))))
    ax = fig.add_subplot()
    labels = [f"{j} #{r}" for j, r in zip(runs.job, runs.run, strict=True)]
    due = _num(runs.due) if len(runs) else np.zeros(0)
    end = _num(runs.end.fillna(horizon)) if len(runs) else np.zeros(0)
    deadline = (_num(runs.deadline.fillna(horizon)) if len(runs) else np.zeros(0))
    has_deadline = runs.deadline.notna().to_numpy()
    undetermined = (runs.state == "undetermined").to_numpy()
    failed = (runs.state == "failed").to_numpy()
    for y in range(len(runs)):
        color = "0.6" if undetermined[y] else "C4" if failed[y] else "C0"
        on_time_end = min(end[y], deadline[y]) if has_deadline[y] else end[y]
        ax.plot([due[y], max(on_time_end, due[y])], [y, y], color=color, linewidth=3)
        if has_deadline[y] and end[y] > deadline[y]:
            ax.plot([max(deadline[y], due[y]), end[y]], [y, y], color="C3", linewidth=3)
    ax.plot([], [], color="C0", linewidth=3, label="due to end (in time)")
    ax.plot([], [], color="C3", linewidth=3, label="past the deadline")
    if failed.any():
        ax.plot([], [], color="C4", linewidth=3, label="failed (the job ended in Error)")
    if undetermined.any():
        ax.plot([], [], color="0.6", linewidth=3, label="open at the horizon (undetermined)")
    if has_deadline.any():
        ax.scatter(deadline[has_deadline], np.arange(len(runs))[has_deadline], marker="|",
                   s=120, color="k", label="deadline", zorder=3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
    ax.set_yticks(range(len(runs)), labels, fontsize=max(4, 9 - len(runs) // 30))
    ax.invert_yaxis()
    if len(runs):
        low = pd.Timestamp(runs.due.min())
        last = max(end.max(), deadline[has_deadline].max() if has_deadline.any() else 0)
        right = max(last, float(_num(low)[0]) + 1 / 1440)  # at least a minute wide
        ax.set_xlim(_num(low)[0], right)
        _clock_axis(ax, zone, low, _time(right))
    ax.set_title(f"{result.scenario.name}: runs from due to end (red: the part past the"
                 " deadline)")
    fig.autofmt_xdate()
    return _laid_out(fig)


class ScenarioView(Protocol):
    """What a back-test's page and plot read of its scenario (a ``Scenario``)."""

    @property
    def name(self) -> str: ...

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...

    @property
    def timezone(self) -> str: ...


class BacktestView(Protocol):
    """What the back-test's page and plot read of a back-test (``history``'s ``Backtest``).

    The present wing never imports the back-test itself: the functions that take one
    (``backtest_waits``, ``write_backtest_report``) read only these attributes.
    """

    @property
    def mode(self) -> str: ...

    @property
    def graph(self) -> str: ...

    @property
    def runs(self) -> pd.DataFrame: ...

    @property
    def tasks(self) -> pd.DataFrame: ...

    @property
    def simulated(self) -> pd.DataFrame: ...

    @property
    def scenario(self) -> ScenarioView: ...

    @property
    def notes(self) -> tuple[str, ...]: ...

    @property
    def seed(self) -> int: ...

    def errors(self, by: Literal["group", "hour", "job"] = "group",
               confidence: float = 0.95) -> pd.DataFrame: ...


def backtest_waits(test: BacktestView, group: str = "all") -> Figure:
    """Actual against simulated job waits per hour of the day the runs were due (a back-test).

    Mean and p95 of the wait (StartDateTime - OrigStartDateTime) in minutes, for all runs
    or one ``group``. In calibrated mode the simulated mean carries its confidence band.
    ``backtest_hourly_waits`` draws the same from plain data.
    """
    return backtest_hourly_waits(test.errors("hour"), mode=test.mode,
                                 scenario=test.scenario.name,
                                 timezone=test.scenario.timezone, group=group)


def backtest_hourly_waits(hourly: pd.DataFrame, *, mode: str, scenario: str, timezone: str,
                          group: str = "all") -> Figure:
    """Actual against simulated job waits per hour of the day the runs were due.

    ``hourly`` is a back-test's error table per hour (``Backtest.errors("hour")``: group,
    hour, metric, actual, simulated and, in calibrated mode, simulated_low and
    simulated_high, in seconds); ``mode`` (replay or calibrated), ``scenario`` (its name)
    and ``timezone`` (of the hours) label the plot. Mean and p95 of the wait in minutes, for
    all runs or one ``group``; in calibrated mode the simulated mean carries its band.
    """
    mine = hourly[hourly["group"] == group]
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    for metric, style in (("wait_mean", "-"), ("wait_p95", ":")):
        rows = mine[mine["metric"] == metric].sort_values("hour")
        label = metric.removeprefix("wait_")
        ax.plot(rows["hour"], rows["actual"] / 60, style, marker="o", color="#1d2433",
                label=f"actual {label}")
        ax.plot(rows["hour"], rows["simulated"] / 60, style, marker="s", color="#d95f02",
                label=f"simulated {label}")
        if "simulated_low" in rows and metric == "wait_mean":
            ax.fill_between(rows["hour"], rows["simulated_low"] / 60,
                            rows["simulated_high"] / 60, color="#d95f02", alpha=0.2,
                            label="simulated mean, 95% interval")
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlim(-0.5, 23.5)
    ax.set_xlabel(f"hour of the day the run was due ({timezone})")
    ax.set_ylabel("job wait (minutes)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Back-test ({mode}) on {scenario}: job waits per hour, {group}")
    return _laid_out(fig)


def database_load(result: Result) -> Figure:
    """The shared database over the run: load against capacity, and the speed tasks ran at.

    Needs a scenario with ``database:``; the load is a step curve (thinned to each
    minute's peak on long runs), the capacity and any throttle are dashed lines.
    """
    table, db = result.database, result.scenario.database
    if table is None or db is None:
        raise ValueError(f"{result.scenario.name} has no database: nothing to plot")
    if len(table) > MAX_POINTS:  # each minute's peak load and lowest speed
        table = table.set_index("time").resample("1min").agg(
            {"load": "max", "speed": "min"}).ffill().reset_index()
    begin, finish = pd.Timestamp(result.scenario.start), pd.Timestamp(result.scenario.end)
    times = np.r_[_num(table.time), _num(finish)]  # the last state holds to the horizon
    fig = Figure(figsize=(11, 5))
    ax, speed = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax.step(times, np.r_[table.load, table.load.iloc[-1]], where="post", color="C0",
            label="load")
    ax.axhline(db.capacity, color="C3", linestyle="--", label=f"capacity {db.capacity:g}")
    if db.throttle_at is not None:
        ax.axhline(db.capacity * db.throttle_at, color="C1", linestyle=":",
                   label=f"throttle at {db.throttle_at:.0%}")
    ax.set_ylabel("database load")
    ax.set_title(f"{result.scenario.name}: database load and speed")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    speed.step(times, np.r_[table.speed, table.speed.iloc[-1]], where="post", color="C2")
    speed.set_ylim(0, 1.05)
    speed.yaxis.set_major_formatter(PercentFormatter(1.0))
    speed.set_ylabel("speed of each task")
    speed.grid(alpha=0.3)
    speed.set_xlim(_num(begin)[0], _num(finish)[0])
    _clock_axis(speed, result.scenario.timezone, begin, finish)
    fig.autofmt_xdate()
    return _laid_out(fig)
