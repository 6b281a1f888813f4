"""The search over levers: priorities, start times, concurrency limits, reserved capacity.

Levers are not monotone (a later start may help or hurt; a higher priority for one job is
a lower one for the rest), so the capacity search's bisection does not apply to them.
Their preference order is known before anything runs (fewest levers changed, then the
smallest steps, ``Candidates.rank``), and the targets are constraints, so the plan is a
sequential feasibility screen in that order (after Andradóttir and Kim's feasibility
determination, with one candidate judged at a time at the plan's confidence):

- the lever settings are sorted by preference and evaluated in batches of ``BATCH``, every
  candidate of a batch at once on the workers, each on the same replication seeds
  (common random numbers) and with more replications while its decision is close;
- the most preferred candidate met is judged again on fresh replications (seeds the
  search never uses): screening many candidates at 95% each would let a lucky one through
  more often than 5% of the time, while the fresh verdict is independent of the
  screening, so the choice itself holds at the stated confidence. One that fails there
  is "unconfirmed" and the next one met is tried;
- the search stops at the first batch after which no setting still to come can rank
  before the best one confirmed;
- with one capacity variable beside the levers, each lever setting gets the least capacity
  that meets the targets, by bisection (capacity is monotone), the settings of a batch in
  lock step, and the capacity is the last criterion of the rank.

Why a feasibility screen rather than ranking and selection on means: the choice is not
"the best mean" but "the most preferred setting that meets every target", and each
candidate's verdict already rests on its one-sided bound (Wilson's for a share of runs),
which this search does not weaken. The batch size is fixed, not the number of workers, so
the decisions are the same for a seed whatever runs them.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from simbatch.errors import UsageError
from simbatch.planning.candidates import Candidate

Search = Any
"""``simbatch.planning.search.Search``, which calls this module (named so, without a cycle)."""

__all__ = ["BATCH", "MAX_SETTINGS", "search_levers"]

BATCH = 8
"""Lever settings evaluated together: fixed, so the decisions never depend on the workers."""
MAX_SETTINGS = 100_000
"""The most lever settings (the product of the levers' values) a plan may order."""


def search_levers(search: Search) -> None:
    """Find the most preferred candidate that meets the targets (see the module)."""
    catalog = search.catalog
    levers = catalog.levers
    capacity = [i for i in range(len(catalog.variables)) if i not in levers]
    if len(capacity) > 1:
        names = ", ".join(catalog.variables[i].key for i in capacity)
        raise UsageError(f"vary at most one capacity variable beside levers, got {names};"
                         " tie them into one (servers.*.threads, or a named tie)")
    sizes = [len(catalog.values[i]) for i in levers]
    if math.prod(sizes) > MAX_SETTINGS:
        raise UsageError(f"the levers have {math.prod(sizes):,} settings together, more than"
                         f" {MAX_SETTINGS:,}; narrow their ranges")
    top = len(catalog.values[capacity[0]]) - 1 if capacity else 0

    def point(setting: tuple[int, ...], k: int) -> tuple[int, ...]:
        out = [k] * len(catalog.variables)
        for i, value in zip(levers, setting, strict=True):
            out[i] = value
        return tuple(out)

    order = sorted(itertools.product(*(range(n) for n in sizes)),
                   key=lambda s: (catalog.distance(point(s, 0)), s))
    best: Candidate | None = None
    pool: list[Candidate] = []
    for start in range(0, len(order), BATCH):
        batch = order[start:start + BATCH]
        if best is not None and catalog.distance(point(batch[0], 0)) > (best.changes,
                                                                         best.steps):
            return
        if capacity:
            lines = [[point(s, k) for k in range(top + 1)] for s in batch]
            met = [search.candidates[line[k]] for line, k in
                   zip(lines, search.lowest_met(lines), strict=True) if k is not None]
        else:
            met = [c for c in search.evaluate([point(s, 0) for s in batch])
                   if c.verdict == "met"]
        pool = sorted([*pool, *met], key=search.rank)
        while pool and (best is None or search.rank(pool[0]) < search.rank(best)):
            c = pool.pop(0)
            if search.confirm(c):
                best = c
