"""The plan report: the targets, the cost curve, and the choice against the base, paired.

``plan_page`` renders it (``templates/plan.html``) from plain data that ``Plan.report``
prepares; the present wing never imports the planning wing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from simbatch.present import pages

__all__ = ["plan_page"]


def plan_page(*, scenario: str, met: bool, choice: Mapping[str, int],
              base: Mapping[str, int], runs: int, budget: int | None, tried: int, grid: int,
              seed: int, confidence: float, notes: Sequence[str], estimates: pd.DataFrame,
              plot: pages.Image, replications: int, differences: pd.DataFrame,
              candidates: pd.DataFrame) -> str:
    """The plan report as an HTML text, from plain data.

    ``scenario``: the base scenario's name; ``met``: whether the choice meets the targets;
    ``choice`` and ``base``: the varied paths' values in the choice and in the base;
    ``runs`` spent of ``budget`` (None: no budget) over ``tried`` of ``grid`` candidates,
    on replication seeds from ``seed``; ``confidence`` of the one-sided bounds; ``notes``:
    what the plan found worth saying; ``estimates``: the targets judged at the choice;
    ``plot``: the cost against the targets; ``differences``: the choice minus the base over
    ``replications`` paired replications, one row per metric and key, the interval in the
    last column; ``candidates``: every candidate tried.
    """
    return pages.render(
        "plan.html", title=f"simbatch plan: {scenario}", heading=f"Capacity plan: {scenario}",
        runs=runs, budget="none" if budget is None else budget, tried=tried, grid=grid,
        seed=seed, confidence=f"{confidence:.0%}", met=met,
        choice=", ".join(f"{p} = {v}" for p, v in choice.items()),
        base=", ".join(f"{p} = {v}" for p, v in base.items()), notes=list(notes),
        estimates=pages.table(estimates), plot=plot, replications=replications,
        differences=pages.table(differences), candidates=pages.table(candidates))
