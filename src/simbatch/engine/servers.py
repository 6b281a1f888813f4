"""Batch servers over time: thread limits from local-time periods and outages, the servers
dedicated to Reserved capacity, and poll phases."""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from zoneinfo import ZoneInfo

from simbatch.engine.randomness import generator
from simbatch.scenario.spec import RESERVED_SHARES, Scenario, Server, dedicated
from simbatch.scenario.timegrammar import NS, epoch_ns

__all__ = ["Down", "Limits", "downtime", "poll_offsets"]

Down = tuple[int, int, str]
"""A server down over ``[start, end)`` (ns after the scenario start), and why: outage or
maintenance."""


def _timeline(server: Server, start: dt.datetime, horizon: int,
              zone: ZoneInfo) -> tuple[list[int], list[int]]:
    """The server's thread limit as change points (ns after ``start``) over the horizon.

    Period bounds are local times of day in ``zone``; each day's bounds are placed with
    zoneinfo, so a period across a daylight-saving change has its true length.
    """
    def local_second(epoch_s: float) -> int:
        local = dt.datetime.fromtimestamp(epoch_s, zone)
        return local.hour * 3600 + local.minute * 60 + local.second

    origin = start.timestamp()
    times, limits = [0], [server.threads_at(local_second(origin))]
    points = server.change_points()
    if not points:
        return times, limits
    first = start.astimezone(zone).date() - dt.timedelta(days=1)
    days = math.ceil(horizon / NS / 86_400) + 3
    instants = set()
    for d in range(days):
        day = first + dt.timedelta(days=d)
        for second in points:
            wall = dt.datetime(day.year, day.month, day.day, second // 3600,
                               second // 60 % 60, second % 60, tzinfo=zone)
            offset = epoch_ns(wall) - epoch_ns(start)
            if 0 < offset < horizon:
                instants.add(offset)
    for offset in sorted(instants):
        limit = server.threads_at(local_second(origin + offset / NS))
        if limit != limits[-1]:
            times.append(offset)
            limits.append(limit)
    return times, limits


def downtime(scenario: Scenario) -> list[list[Down]]:
    """Each server's down intervals over the horizon: explicit outages and maintenance.

    A maintenance window takes its servers down for ``down`` each, in file order, one after
    another from the window's opening (or all at the opening). Overlapping intervals of one
    server merge; the cause of the earlier one is kept.
    """
    names = [s.name for s in scenario.servers]
    origin = epoch_ns(scenario.start)
    horizon = scenario.horizon
    raw: list[list[Down]] = [[] for _ in names]
    for outage in scenario.outages:
        begin = epoch_ns(outage.start) - origin
        raw[names.index(outage.server)].append((begin, begin + outage.duration, "outage"))
    for item in scenario.maintenance:
        order = [names.index(n) for n in item.servers]
        for opens, _ in item.window.spans(scenario.start, horizon, ZoneInfo(item.timezone)):
            for k, server in enumerate(order):
                begin = opens + (k * item.down if item.stagger == "one-at-a-time" else 0)
                raw[server].append((begin, begin + item.down, "maintenance"))
    out: list[list[Down]] = []
    for spans in raw:
        merged: list[Down] = []
        for begin, end, cause in sorted(spans):
            begin, end = max(begin, 0), min(end, horizon)
            if begin >= end:
                continue
            if merged and begin <= merged[-1][1]:
                last = merged[-1]
                merged[-1] = (last[0], max(last[1], end), last[2])
            else:
                merged.append((begin, end, cause))
        out.append(merged)
    return out


def _without(times: list[int], limits: list[int], down: list[Down]) -> tuple[list[int],
                                                                               list[int]]:
    """A limit timeline with the limit at 0 while the server is down."""
    if not down:
        return times, limits
    points = sorted({*times, *(b for b, _, _ in down), *(e for _, e, _ in down)})
    out_t: list[int] = []
    out_l: list[int] = []
    for t in points:
        down_now = any(b <= t < e for b, e, _ in down)
        limit = 0 if down_now else limits[bisect_right(times, t) - 1]
        if not out_l or limit != out_l[-1]:
            out_t.append(t)
            out_l.append(limit)
    return out_t, out_l


class Limits:
    """Each server's thread limit at any instant (periods, and 0 while it is down), and the
    servers dedicated to Reserved capacity over time."""

    def __init__(self, scenario: Scenario) -> None:
        cache: dict[tuple[object, ...], tuple[list[int], list[int]]] = {}
        self.times: list[list[int]] = []
        self.limits: list[list[int]] = []
        self.down = downtime(scenario)
        for server, down in zip(scenario.servers, self.down, strict=True):
            zone = scenario.zone_of(server)
            key = (server.threads, server.periods, zone.key)
            if key not in cache:
                cache[key] = _timeline(server, scenario.start, scenario.horizon, zone)
            times, limits = _without(*cache[key], down)
            self.times.append(times)
            self.limits.append(limits)
        self.horizon = scenario.horizon
        # Reserved capacity: the dedicated set is recomputed whenever any limit changes
        share = RESERVED_SHARES[scenario.reserved_capacity]
        self.reserved: list[tuple[int, frozenset[int]]] = []
        """When the dedicated set changes: (instant, servers); empty without reserved capacity."""
        if scenario.scheduling == "priority" and share > 0:
            for t in sorted({t for times in self.times for t in times}):
                chosen = dedicated(share, [self.at(s, t) for s in range(len(self.times))])
                if not self.reserved or chosen != self.reserved[-1][1]:
                    self.reserved.append((t, chosen))
        self._switch_times = [t for t, _ in self.reserved]

    def at(self, server: int, t: int) -> int:
        """The thread limit of ``server`` at instant ``t``."""
        return self.limits[server][bisect_right(self.times[server], t) - 1]

    def dedicated_at(self, server: int, t: int) -> bool:
        """Whether ``server`` is dedicated to Reserved capacity at instant ``t``."""
        i = bisect_right(self._switch_times, t) - 1
        return i >= 0 and server in self.reserved[i][1]

    def segment(self, server: int, t: int) -> tuple[int, int, int]:
        """At ``t``: the limit, when it next changes, and when it next rises above it.

        Instants past the horizon are given as the horizon.
        """
        times = self.times[server]
        limits = self.limits[server]
        i = bisect_right(times, t) - 1
        limit = limits[i]
        until = times[i + 1] if i + 1 < len(times) else self.horizon
        rise = next((times[k] for k in range(i + 1, len(times)) if limits[k] > limit),
                    self.horizon)
        return limit, until, rise



def poll_offsets(scenario: Scenario, seed: int) -> list[int]:
    """Each server's poll phase in ns: as given, or drawn in whole seconds from its own stream."""
    offsets = []
    for server in scenario.servers:
        if server.poll_offset is not None:
            offsets.append(server.poll_offset)
        elif scenario.polling == 0:
            offsets.append(0)
        else:
            span = math.ceil(scenario.polling / NS)
            drawn = int(generator(seed, "poll", server.name).integers(0, span))
            offsets.append(drawn * NS)
    return offsets
