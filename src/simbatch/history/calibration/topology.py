"""Topology: servers, threads, groups and scheduling, from a given scenario or from the
history's ServerId (each server's peak concurrency, a lower bound of its threads).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from ruamel.yaml.comments import CommentedMap

from simbatch.engine.compile import compile_servers
from simbatch.history.calibration.document import commented, flow_map
from simbatch.history.read import History
from simbatch.scenario.load import load
from simbatch.scenario.spec import CLOUD_MAX_THREADS, Scenario
from simbatch.scenario.timegrammar import epoch_ns

__all__ = ["infer_topology", "peak_concurrency", "restarts"]

"""The most threads a server may have (the cloud maximum): inferred threads are capped here."""


def peak_concurrency(tasks: pd.DataFrame) -> dict[str, int]:
    """The most task runs seen at once on each server."""
    ran = tasks[tasks["server"].notna() & tasks["start"].notna()]
    out: dict[str, int] = {}
    for server, rows in ran.groupby("server", observed=True):
        starts = rows["start"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        ends = rows["end"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        ends = np.where(rows["end"].isna().to_numpy(), np.iinfo(np.int64).max, ends)
        times = np.concatenate([starts, ends])
        steps = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
        order = np.lexsort((steps, times))  # an end before a start at one instant
        out[str(server)] = int(np.cumsum(steps[order]).max())
    return out


def infer_topology(history: History, topology: Any) -> tuple[CommentedMap, list[str]]:
    """Servers, groups and scheduling: from ``topology`` when given, else from ServerId."""
    out = CommentedMap()
    notes: list[str] = []
    if topology is not None:
        scenario = load(topology)
        data = scenario.document
        for key in ("scheduling", "platform", "polling", "reserved_capacity", "throttle"):
            if key in data:
                out[key] = data[key]
        for key in ("outages", "maintenance"):  # downtime is topology: kept, not fitted
            if data.get(key):
                out[key] = commented(data[key])
        out.setdefault("scheduling", scenario.scheduling)
        out["servers"] = commented(data["servers"])
        if data.get("groups"):
            out["groups"] = commented(data["groups"])
        notes.append(f"servers, threads and groups from the topology {scenario.source}")
        return out, notes
    out["scheduling"] = "priority"
    out["polling"] = "1m"
    servers = CommentedMap()
    peaks = peak_concurrency(history.tasks)
    for name, peak in sorted(peaks.items()):
        threads = max(1, min(peak, CLOUD_MAX_THREADS))
        servers[name] = flow_map({"threads": threads})
        note = f"peak {peak} tasks at once: threads are not in the history, a lower bound"
        if peak > CLOUD_MAX_THREADS:
            note += f"; capped at {CLOUD_MAX_THREADS}, the cloud maximum"
        servers.yaml_add_eol_comment(note, name)
    if not servers:
        servers["AOS1"] = flow_map({"threads": 8})
        servers.yaml_add_eol_comment("no ServerId in the history: one server of 8 threads"
                                     " (the cloud default), a guess", "AOS1")
    out["servers"] = servers
    notes.append("threads per server: not in the history; each server's peak concurrency"
                 " is written as a lower bound (give --topology to set them)")
    return out, notes


def restarts(tasks: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """How many times each task row's server went down while it ran (a down span opening in
    (start, end]): the topology's outages and maintenance, which end executing attempts in
    Error. Calibration leaves those errors out of ``fail``: the kept downtime makes them."""
    out = np.zeros(len(tasks), dtype=np.int64)
    if not scenario.outages and not scenario.maintenance:
        return out
    servers = compile_servers(scenario)
    origin = epoch_ns(scenario.start)
    name = tasks["server"].astype(object).to_numpy()
    start = tasks["start"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    end = tasks["end"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ran = tasks["start"].notna().to_numpy() & tasks["end"].notna().to_numpy()
    for k, server in enumerate(servers.names):
        opens = np.array(sorted(origin + begin for begin, _, _ in servers.down[k]),
                         dtype=np.int64)
        if not len(opens):
            continue
        mine = ran & (name == server)
        out[mine] = (np.searchsorted(opens, end[mine], side="right")
                     - np.searchsorted(opens, start[mine], side="right"))
    return out
