"""Which servers have a free thread, indexed so that dispatch visits only those that can pick.

A dispatch step must hand work to every server that polls now, has a free thread and
serves a lane with work waiting, and must know the next instant at which such a server
polls. Scanning every server for that makes each step cost the number of servers, most
of them idle in a large farm. ``Idle`` keeps, for each set of lanes that some servers
serve (all lanes under priority scheduling, one set per binding under affinity, the
Reserved lanes on dedicated servers), the servers of that set that have a free thread,
sorted by (poll offset, server). Dispatch then looks only at:
- the sets whose lanes hold work (a check over a few lanes);
- the free servers of those sets whose offset is the current phase of the poll grid;
- the first free server after that phase (a bisection), for the next wake-up.

A server that is full is out of the index; the model brings it back when a thread ends,
or at the first poll after its limit rises (an event the model schedules once per rise).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from typing import Any

__all__ = ["Idle"]

LAST = 1 << 62
"""Larger than any server index: bisecting at (phase, LAST) passes every server at phase."""


class Idle:
    """The free servers of one model, by the lanes they serve and their poll phase."""

    def __init__(self, offsets: Sequence[int], queues: Sequence[list[list[Any]]]) -> None:
        self.offsets = list(offsets)
        self.free = [False for _ in offsets]
        self.count = 0
        """How many servers have a free thread."""
        self.set_of: list[int] = []
        self.queues: list[list[list[Any]]] = []
        """Per set: the lanes (heaps) its servers serve."""
        self.rings: list[list[tuple[int, int]]] = []
        """Per set: (poll offset, server) of its servers with a free thread, sorted."""
        self.regroup(queues)

    def regroup(self, queues: Sequence[list[list[Any]]]) -> None:
        """Sort the servers into sets again (``queues[s]``: the heaps server s serves now)."""
        index: dict[tuple[int, ...], int] = {}
        self.set_of = []
        self.queues = []
        for served in queues:
            key = tuple(id(heap) for heap in served)
            if key not in index:
                index[key] = len(self.queues)
                self.queues.append(served)
            self.set_of.append(index[key])
        self.rings = [[] for _ in self.queues]
        for s, free in enumerate(self.free):
            if free:
                self.rings[self.set_of[s]].append((self.offsets[s], s))
        for ring in self.rings:
            ring.sort()

    def place(self, server: int, free: bool) -> None:
        """Record whether ``server`` has a free thread now."""
        if free == self.free[server]:
            return
        self.free[server] = free
        self.count += 1 if free else -1
        ring = self.rings[self.set_of[server]]
        key = (self.offsets[server], server)
        if free:
            insort(ring, key)
        else:
            del ring[bisect_left(ring, key)]

    def polling(self, phase: int) -> list[int]:
        """The free servers at poll ``phase`` whose lanes hold work, in file order.

        All of them: sets may share lanes (a server bound to two groups, the dedicated
        servers' Reserved lanes), and runtime children queued during the step may go to
        any of them, so only the step itself knows which ones will take nothing.
        """
        found: list[int] = []
        sets = 0
        for k, queues in enumerate(self.queues):
            ring = self.rings[k]
            if not ring or not any(queues):
                continue
            lo = bisect_left(ring, (phase, -1))
            hi = bisect_right(ring, (phase, LAST), lo)
            if lo < hi:
                sets += 1
                found += [s for _, s in ring[lo:hi]]
        if sets > 1:
            found.sort()
        return found

    def next_poll(self, phase: int, period: int) -> int | None:
        """How long after an instant at ``phase`` the next free server with work polls.

        Only servers after ``phase`` count (those at it have just been served), so the
        answer is in (0, period]; None when no free server has work.
        """
        best: int | None = None
        for k, queues in enumerate(self.queues):
            ring = self.rings[k]
            if not ring or not any(queues):
                continue
            i = bisect_right(ring, (phase, LAST))
            gap = ring[i][0] - phase if i < len(ring) else ring[0][0] + period - phase
            if best is None or gap < best:
                best = gap
        return best
