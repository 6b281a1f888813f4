"""Batch servers over time: each one's thread limit at any instant, the servers dedicated
to Reserved capacity, and poll phases, all read from the compiled plan."""

from __future__ import annotations

from bisect import bisect_right

from simbatch.engine.compile import Down, ServerTables, compile_servers
from simbatch.engine.randomness import generator
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import NS

__all__ = ["Down", "Limits", "poll_offsets"]


class Limits:
    """Each server's thread limit at any instant (periods, and 0 while it is down), and the
    servers dedicated to Reserved capacity over time.

    Built from a plan's ``ServerTables``; ``Limits(scenario)`` compiles the scenario's
    servers first (for callers that hold a scenario and no plan).
    """

    def __init__(self, source: ServerTables | Scenario) -> None:
        tables = compile_servers(source) if isinstance(source, Scenario) else source
        self.times = tables.times
        self.limits = tables.limits
        self.down = tables.down
        self.horizon = tables.horizon
        self.reserved = tables.reserved
        """When the dedicated set changes: (instant, servers); empty without reserved capacity."""
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


def poll_offsets(servers: ServerTables, seed: int) -> list[int]:
    """Each server's poll phase in ns: as given, or drawn in whole seconds from its own stream."""
    offsets = []
    for name, given in zip(servers.names, servers.poll_offsets, strict=True):
        if given is not None:
            offsets.append(given)
        elif servers.poll_span == 0:
            offsets.append(0)
        else:
            drawn = int(generator(seed, "poll", name).integers(0, servers.poll_span))
            offsets.append(drawn * NS)
    return offsets
