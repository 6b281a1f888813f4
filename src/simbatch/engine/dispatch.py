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

from simbatch.engine.jobs import JobPlan
from simbatch.engine.randomness import Blocks, generator
from simbatch.scenario.spec import PRIORITIES, Scenario
from simbatch.scenario.timegrammar import NS

__all__ = ["THROTTLE_STARTS", "WEIGHTS", "Lanes"]

WEIGHTS = (5, 10, 15, 30, 40)
"""Chance weights of Low, Normal, High, Critical and Reserved capacity (10.0.38 onward)."""
THROTTLE_STARTS = 60
"""A task class started more than this many times in a minute on one server is held back
there for a minute."""
MINUTE = 60 * NS
RESERVED = PRIORITIES.index("reserved")

Entry = tuple[int, int, int, int, Any]


class Lanes:
    """The ready queues of one model, and the rule for picking from them."""

    def __init__(self, scenario: Scenario, plans: list[JobPlan], seed: int) -> None:
        self.priority_mode = scenario.scheduling == "priority"
        self.throttle = scenario.throttle
        group_index = {g.name: i for i, g in enumerate(scenario.groups)}
        classes: dict[str, int] = {}
        keys: dict[tuple[int, int, int], int] = {}
        for plan in plans:
            priority = PRIORITIES.index(scenario.priority_of(plan.job))
            for task in plan.job.tasks:
                cls = (-1 if task.task_class is None
                       else classes.setdefault(task.task_class, len(classes)))
                key = (group_index[task.group], cls, priority)
                plan.lane.append(keys.setdefault(key, len(keys)))
                plan.cls.append(cls)
        self.heaps: list[list[Entry]] = [[] for _ in keys]
        self.klass = [cls for (_, cls, _) in keys]
        self.priority = [pri for (_, _, pri) in keys]
        # what each server serves while shared, and while dedicated to Reserved capacity
        self.shared: list[list[int]] = []
        for server in scenario.servers:
            if self.priority_mode:
                lanes = list(range(len(keys)))
            else:
                served = {g for g, group in enumerate(scenario.groups)
                          if server.name in group.servers}
                lanes = [lane for lane, (g, _, _) in enumerate(keys) if g in served]
            self.shared.append(lanes)
        self.reserved_only = [lane for lane, (_, _, pri) in enumerate(keys) if pri == RESERVED]
        self.of_server: list[list[int]] = []
        self.heaps_of_server: list[list[list[Entry]]] = []
        self.simple: list[bool] = []
        for s in range(len(self.shared)):
            self.of_server.append([])
            self.heaps_of_server.append([])
            self.simple.append(True)
            self._serve(s, self.shared[s])
        servers = len(scenario.servers)
        self.starts: list[dict[int, deque[int]]] = [{} for _ in range(servers)]
        self.held_until: list[list[int]] = [[0] * len(classes) for _ in range(servers)]
        self._seed = seed
        self._names = [s.name for s in scenario.servers]
        self._draws: list[Blocks | None] = [None for _ in scenario.servers]  # made when used
        self._drawn = [0 for _ in scenario.servers]

    def _serve(self, server: int, lanes: list[int]) -> None:
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
