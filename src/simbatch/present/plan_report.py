"""The plan report: the targets, the cost curve, and the choice against the base, paired.

``plan_page`` renders it (``templates/plan.html``) from plain data that ``Plan.report``
prepares; the present wing never imports the planning wing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

from simbatch.present import pages, units

__all__ = ["candidate_rows", "difference_rows", "plan_page", "target_rows"]


def target_rows(estimates: pd.DataFrame) -> pd.DataFrame:
    """A plan's targets at the choice for reading, each in its target's own unit.

    ``estimates`` is ``Plan.estimates`` (target, metric, n, mean, ci_low, ci_high, bound,
    met): the mean and its interval, and the one-sided bound the decision is taken on, as
    h:mm:ss for a time target, percent for a share, a number otherwise.
    """
    metrics = estimates["metric"]
    return pd.DataFrame({
        "target": estimates["target"],
        "n": estimates["n"].map(units.count),
        "estimate": [units.estimate(m, mean, lo, hi) for m, mean, lo, hi in zip(
            metrics, estimates["mean"], estimates["ci_low"], estimates["ci_high"],
            strict=True)],
        "bound": [units.value(m, b) for m, b in zip(metrics, estimates["bound"], strict=True)],
        "met": estimates["met"]})


_JUDGED = ("n", "mean", "ci_low", "ci_high", "bound", "met")


def candidate_rows(candidates: pd.DataFrame, estimates: pd.DataFrame) -> pd.DataFrame:
    """Every candidate tried, for reading: each target's estimate and bound in its unit.

    ``candidates`` is ``Plan.evaluations``, whose per-target columns end with the target's
    label in word characters (``mean_wait_p95_2m_for_Planning``); they become two columns
    per target, the estimate with its interval and the one-sided bound, and ``met``.
    """
    shown = candidates.copy()
    for column, fmt in (("cost", "{:,.1f}"), ("thread_hours", "{:,.1f}")):
        if column in shown:
            shown[column] = shown[column].map(fmt.format)
    for column in ("replications", "servers"):
        if column in shown:
            shown[column] = shown[column].map(units.count)
    for target, metric in zip(estimates["target"], estimates["metric"], strict=True):
        slug = re.sub(r"\W+", "_", str(target)).strip("_")
        judged = [f"{name}_{slug}" for name in _JUDGED]
        if not all(c in shown for c in judged):
            continue  # named otherwise: shown as it is
        n, mean, low, high, bound, met = (shown.pop(c) for c in judged)
        shown[f"{target}: estimate"] = [units.estimate(metric, m, lo, hi) for m, lo, hi
                                        in zip(mean, low, high, strict=True)]
        shown[f"{target}: bound"] = [units.value(metric, b) for b in bound]
        shown[f"{target}: met"] = met
        shown[f"{target}: n"] = n.map(units.count)
    return shown


def difference_rows(differences: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """The choice minus the base for reading: times as h:mm:ss, shares as percent.

    ``differences`` holds metric, key and the numbers mean, ci_low and ci_high, in the
    metric rows' units.
    """
    return pd.DataFrame({
        "metric": differences["metric"].map(units.label), "key": differences["key"],
        f"plan - base ({confidence:.0%} interval)": [
            units.estimate(m, mean, lo, hi) for m, mean, lo, hi in zip(
                differences["metric"], differences["mean"], differences["ci_low"],
                differences["ci_high"], strict=True)]})


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
    ``replications`` paired replications, one row per metric and key with mean, ci_low and
    ci_high in the metric rows' units; ``candidates``: every candidate tried.
    """
    return pages.render(
        "plan.html", title=f"simbatch plan: {scenario}", heading=f"Capacity plan: {scenario}",
        runs=runs, budget="none" if budget is None else budget, tried=tried, grid=grid,
        seed=seed, confidence=f"{confidence:.0%}", met=met,
        choice=", ".join(f"{p} = {v}" for p, v in choice.items()),
        base=", ".join(f"{p} = {v}" for p, v in base.items()), notes=list(notes),
        estimates=pages.table(target_rows(estimates)), plot=plot, replications=replications,
        differences=pages.table(difference_rows(differences, confidence)),
        candidates=pages.table(candidate_rows(candidates, estimates)))
