"""Which waiting task a free thread takes: affinity or priority scheduling, and the throttle.

Waiting tasks sit in lanes, one heap per (group, task class, priority) in the scenario,
ordered oldest ready first (ties: job, run, task in file order). A server serves a set
of lanes:
- affinity: the lanes of the groups that list it;
- priority: every lane (Reserved capacity's with its weight among them) or, while it is
  dedicated to Reserved capacity, only Reserved capacity's lanes.

A pick then:
1. leaves out classes the throttle holds back on that server, unless nothing else it may
   run is waiting;
2. under priority scheduling, chooses a priority class with the published weights among
   the classes that have work waiting, drawing from the server's own named stream;
3. takes the oldest task among the remaining lanes.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from heapq import heappop
from typing import Any

from simbatch.engine.compile import LaneTables
from simbatch.engine.randomness import Blocks, generator
from simbatch.scenario.timegrammar import NS

__all__ = ["THROTTLE_STARTS", "WEIGHTS", "Lanes"]

WEIGHTS = (5, 10, 15, 30, 40)
"""Chance weights of Low, Normal, High, Critical and Reserved capacity (10.0.38 onward)."""
THROTTLE_STARTS = 60
"""A task class started more than this many times in a minute on one server is held back
there for a minute."""
MINUTE = 60 * NS

Entry = tuple[int, int, int, int, Any]


class Lanes:
    """The ready queues of one model, and the rule for picking from them."""

    def __init__(self, tables: LaneTables, servers: tuple[str, ...], seed: int) -> None:
        self.priority_mode = tables.priority_mode
        self.throttle = tables.throttle
        self.heaps: list[list[Entry]] = [[] for _ in tables.klass]
        self.klass = tables.klass
        self.priority = tables.priority
        # what each server serves while shared, and while dedicated to Reserved capacity
        self.shared = tables.shared
        self.reserved_only = tables.reserved_only
        self.of_server: list[tuple[int, ...]] = []
        self.heaps_of_server: list[list[list[Entry]]] = []
        self.simple: list[bool] = []
        for s in range(len(self.shared)):
            self.of_server.append(())
            self.heaps_of_server.append([])
            self.simple.append(True)
            self._serve(s, self.shared[s])
        count = len(servers)
        self.starts: list[dict[int, deque[int]]] = [{} for _ in range(count)]
        self.held_until: list[list[int]] = [[0] * tables.classes for _ in range(count)]
        self._seed = seed
        self._names = servers
        self._draws: list[Blocks | None] = [None for _ in servers]  # made when used
        self._drawn = [0 for _ in servers]

    def _serve(self, server: int, lanes: tuple[int, ...]) -> None:
        """Let ``server`` serve ``lanes`` (lists are updated in place: the model holds them)."""
        self.of_server[server] = lanes
        self.heaps_of_server[server] = [self.heaps[lane] for lane in lanes]
        # a server with one lane and nothing to weigh or hold back picks by heap order alone
        self.simple[server] = len(lanes) <= 1 and not (
            self.throttle and lanes and self.klass[lanes[0]] >= 0)

    def dedicate(self, servers: frozenset[int]) -> None:
        """From now on ``servers`` run only Reserved capacity work, and the others all work."""
        for s, shared in enumerate(self.shared):
            self._serve(s, self.reserved_only if s in servers else shared)

    def pick(self, server: int, now: int) -> Entry | None:
        """Take the task ``server`` serves next (for servers that are not ``simple``)."""
        heaps = self.heaps
        candidates = [lane for lane in self.of_server[server] if heaps[lane]]
        if not candidates:
            return None
        if self.throttle:
            held = self.held_until[server]
            free = [lane for lane in candidates
                    if self.klass[lane] < 0 or held[self.klass[lane]] <= now]
            if free:  # a held class still runs when nothing else waits
                candidates = free
        if self.priority_mode:
            present = sorted({self.priority[lane] for lane in candidates})
            if len(present) > 1:
                chosen = self._weighted(server, present)
                candidates = [lane for lane in candidates if self.priority[lane] == chosen]
        best = min(candidates, key=lambda lane: heaps[lane][0])
        return heappop(heaps[best])

    def _weighted(self, server: int, present: list[int]) -> int:
        """A priority class among ``present``, with chances proportional to the weights."""
        draws = self._draws[server]
        if draws is None:
            draws = self._draws[server] = Blocks(
                partial(generator, self._seed, "priority", self._names[server]),
                lambda r, n: r.random(n))
        u = float(draws.get(self._drawn[server]))
        self._drawn[server] += 1
        total = sum(WEIGHTS[p] for p in present)
        mark = u * total
        for p in present:
            mark -= WEIGHTS[p]
            if mark < 0:
                return p
        return present[-1]

    def started(self, server: int, cls: int, now: int) -> None:
        """Count a start of task class ``cls`` on ``server`` for the throttle."""
        starts = self.starts[server].get(cls)
        if starts is None:
            starts = self.starts[server][cls] = deque()
        starts.append(now)
        while starts[0] <= now - MINUTE:
            starts.popleft()
        if len(starts) > THROTTLE_STARTS:
            self.held_until[server][cls] = now + MINUTE
