"""Where more threads stop helping: the plan's note on a saturated shared database.

A plan simulates every candidate, so contention is in its numbers as everything else is;
what it cannot see by itself is *why* a range of candidates does no better than a cheaper
one. With ``database:`` in the scenario, each run reports the share of the time tasks ran
that contention took (``db_lost_share``) and the number of tasks that fill the capacity
(``db_saturation_tasks``); this module turns them into one note.
"""

from __future__ import annotations

import pandas as pd

from simbatch.present.findings import CONTENTION
from simbatch.present.units import percent

__all__ = ["saturation_notes"]


def saturation_notes(evaluations: pd.DataFrame, metrics: pd.DataFrame,
                     paths: list[str]) -> list[str]:
    """One note when some candidates saturate the database, else none.

    ``evaluations`` has a row per candidate (its ``candidate`` number, ``cost``, ``chosen``
    and a column per varied path); ``metrics`` the replications' rows (candidate, metric,
    key, value). A candidate is saturated when contention took at least ``CONTENTION`` of
    the time its tasks ran, on average over its replications.
    """
    rows = metrics[metrics.metric.isin(["db_lost_share", "db_saturation_tasks"])]
    if rows.empty:
        return []
    means = rows.groupby(["candidate", "metric"]).value.mean().unstack("metric")
    table = evaluations.set_index("candidate").join(means, how="inner").sort_values(
        "cost", kind="stable")
    saturated = table[table.db_lost_share >= CONTENTION]
    if saturated.empty:
        return []
    first = saturated.iloc[0]
    where = ", ".join(f"{p}={first[p]}" for p in paths)
    note = (f"the database saturates from {where} on (cost {first.cost:,.0f}): contention"
            f" takes {percent(first.db_lost_share, 0)} of the time tasks run there, and above"
            f" about {first.db_saturation_tasks:.0f} concurrent tasks more threads lengthen"
            " every task instead of shortening the run")
    chosen = table[table.chosen.astype(bool)]
    if len(chosen) and chosen.index[0] in saturated.index:
        note += ("; the choice is past that point, so limiting concurrency"
                 " (max_concurrency) may meet the targets with fewer threads")
    return [note]
