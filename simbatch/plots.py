"""Plots of a run: each takes a ``Result`` and returns a matplotlib ``Figure``.

They use matplotlib's object API only (no pyplot state), so they render under any
backend, including the non-interactive one of servers and CI, and they stay readable for
tenants of 50 servers and tens of thousands of tasks by windowing, aggregating or
thinning what they draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simbatch.results import Result

__all__ = ["backlog", "gantt", "job_timelines", "utilization_heatmap", "wait_cdf"]

MAX_POINTS = 5_000
"""Most points a curve keeps; longer series are thinned evenly."""


def _thin(frame: pd.DataFrame, limit: int = MAX_POINTS) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    return frame.iloc[np.linspace(0, len(frame) - 1, limit).astype(int)]


def gantt(result: Result, start: str | pd.Timestamp | None = None,
          hours: float = 6.0) -> Figure:
    """Attempts as bars per server and thread over a window (default: the first hours)."""
    tasks = result.tasks[result.tasks.start.notna()]
    zone = result.scenario.timezone
    begin = (pd.Timestamp(start).tz_localize(zone) if isinstance(start, str)
             else start if start is not None else pd.Timestamp(result.scenario.start))
    finish = begin + pd.Timedelta(hours=hours)
    horizon = pd.Timestamp(result.scenario.end)
    ends = tasks.end.fillna(horizon)
    shown = tasks[(tasks.start < finish) & (ends > begin)].assign(end=ends)
    rows: list[str] = []
    bars: list[tuple[int, float, float, str]] = []
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
            y = len(rows) - len(lanes) + lane
            left = max((row[0] - begin).total_seconds(), 0) / 3600
            right = min((row[1] - begin).total_seconds(), hours * 3600) / 3600
            bars.append((y, left, right - left, colors[row[2]]))
    fig = Figure(figsize=(11, max(3.0, min(0.18 * len(rows) + 1.5, 30))))
    ax = fig.add_subplot()
    for y, left, width, color in bars:
        ax.broken_barh([(left, width)], (y - 0.4, 0.8), facecolors=color, linewidth=0)
    ax.set_yticks(range(len(rows)), rows, fontsize=max(4, 9 - len(rows) // 40))
    ax.invert_yaxis()
    ax.set_xlim(0, hours)
    ax.set_xlabel(f"hours after {begin:%Y-%m-%d %H:%M} ({zone})")
    ax.set_title(f"{result.scenario.name}: attempts by server and thread")
    for group, color in colors.items():
        ax.plot([], [], color=color, linewidth=6, label=group)
    if colors:
        ax.legend(loc="upper right", fontsize=8, title="group")
    fig.tight_layout()
    return fig


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
    fig.colorbar(image, ax=ax, label="utilization")
    fig.tight_layout()
    return fig


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
    ax.set_xlabel("wait (minutes)")
    ax.set_ylabel("share of attempts")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="group (attempts)")
    ax.set_title(f"{result.scenario.name}: how long work waits")
    fig.tight_layout()
    return fig


def backlog(result: Result) -> Figure:
    """Tasks waiting per group over time."""
    table = result.backlog()
    fig = Figure(figsize=(11, 4.5))
    ax = fig.add_subplot()
    for group, rows in table.groupby("group"):
        if len(rows) > MAX_POINTS:  # keep each minute's peak, so bursts stay visible
            rows = (rows.set_index("time").waiting.resample("1min").max().ffill()
                    .reset_index())
        ax.step(rows.time, rows.waiting, where="post", label=group)
    ax.set_ylabel("tasks waiting")
    ax.set_title(f"{result.scenario.name}: backlog per group")
    ax.grid(alpha=0.3)
    if len(table):
        ax.legend(fontsize=8, title="group")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def job_timelines(result: Result, limit: int = 200) -> Figure:
    """Runs from due to end, with their deadlines where jobs have one (latest runs first)."""
    deadlines = result.deadlines()
    jobs = result.jobs
    if len(deadlines):
        runs = deadlines.rename(columns={"scheduled": "due"})
    else:
        runs = jobs.rename(columns={"scheduled": "due"})
        runs["deadline"] = pd.Series(pd.NaT, index=runs.index,
                                     dtype=f"datetime64[ns, {result.scenario.timezone}]")
    runs = runs.sort_values("due").tail(limit)
    horizon = pd.Timestamp(result.scenario.end)
    fig = Figure(figsize=(11, max(3.0, min(0.12 * len(runs) + 1.5, 24))))
    ax = fig.add_subplot()
    labels = [f"{j} #{r}" for j, r in zip(runs.job, runs.run, strict=True)]
    ends = runs.end.fillna(horizon)
    late = (runs.end > runs.deadline) | (runs.end.isna() & (runs.deadline <= horizon))
    for y, (due, end, miss) in enumerate(zip(runs.due, ends, late.fillna(False), strict=True)):
        ax.plot([due, end], [y, y], color="C3" if miss else "C0", linewidth=3)
    marked = runs.deadline.notna()
    if marked.any():
        ax.scatter(runs.deadline[marked], np.arange(len(runs))[marked.to_numpy()], marker="|",
                   s=120, color="k", label="deadline")
        ax.legend(fontsize=8)
    ax.set_yticks(range(len(runs)), labels, fontsize=max(4, 9 - len(runs) // 30))
    ax.invert_yaxis()
    ax.set_title(f"{result.scenario.name}: runs from due to end (red: past the deadline)")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
