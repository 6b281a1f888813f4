"""Batch servers over time: thread limits from local-time periods, and poll phases."""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from zoneinfo import ZoneInfo

from simbatch.randomness import generator
from simbatch.scenario import Scenario, Server
from simbatch.timegrammar import NS, epoch_ns

__all__ = ["Limits", "poll_offsets"]


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


class Limits:
    """Each server's thread limit at any instant, as the periods allow."""

    def __init__(self, scenario: Scenario) -> None:
        cache: dict[tuple[object, ...], tuple[list[int], list[int]]] = {}
        self.times: list[list[int]] = []
        self.limits: list[list[int]] = []
        for server in scenario.servers:
            zone = scenario.zone_of(server)
            key = (server.threads, server.periods, zone.key)
            if key not in cache:
                cache[key] = _timeline(server, scenario.start, scenario.horizon, zone)
            times, limits = cache[key]
            self.times.append(times)
            self.limits.append(limits)
        self.horizon = scenario.horizon

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
