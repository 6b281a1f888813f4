"""Plans: the least capacity that meets a set of targets, at a stated confidence.

``plan`` answers the inverse of a what-if: not "what happens with 12 night threads?" but
"how few threads still meet these targets?". Candidates are the base scenario with integer
values set by path (``servers.AOS1.periods[1].threads``, as in ``sweep``), and every
candidate runs the same replication seeds (common random numbers, as in ``compare``).

- **Targets** read ``METRIC OP VALUE [for KEY]``: a metric of ``replicate`` without its
  unit suffix (``wait_p95`` is ``wait_p95_s``), one of ``<= < >= >``, a value in the time
  grammar (``2m``), a percent (``5%``) or a number, and a key (a group, server or job;
  default ``all``).
- **Decision rule.** A candidate meets a target when the one-sided confidence bound of the
  metric (upper for ``<=``/``<``, lower for ``>=``/``>``) is within the target: Student t
  over its replications for a mean, quantile or utilization; for a share of runs
  (``deadline_miss``), Wilson's score bound on the runs judged, pooled over the
  replications, as ``compare`` gives it. When the bound on the other side still admits the
  target, the decision is close and the candidate gets more replications (sequential
  sampling), up to ``max_replications`` each and ``budget`` runs in all; still close
  then, it is undecided, which is not met, and the notes say what could not be decided.
- **Cost** is the capacity bought: the available thread-hours over the horizon (what the
  periods allow), ties broken by fewer servers with any thread, then by the values. A
  per-variable ``weight`` multiplies the thread-hours that variable adds above its lowest
  value (a weight of 2 makes its threads cost double).
- **Search** uses monotone structure (more threads never make a target worse). With all
  variables at their highest values the targets must be met, else the plan is infeasible.
  For one variable, bisection. For several, a bisection along each variable with the
  others at their highest gives a lower bound for each; from there a greedy marginal
  allocation adds the unit that closes the gap to the targets most per thread-hour until
  the targets are met, and a descent then tries removing one unit from each variable.
- **Monotonicity** is checked on what was simulated anyway: a candidate with more capacity
  that is worse on a target (paired by replication, significant at the confidence) is
  reported, and an infeasible plan compares its lowest and highest candidates to say when
  the varied capacity does not move the metric at all (for example when a group's
  ``max_concurrency`` is what limits it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from simbatch.errors import UsageError
from simbatch.experiments.executors import Workers
from simbatch.experiments.intervals import POOLED
from simbatch.experiments.runs import Comparison, Source, parse_warmup, replicate
from simbatch.planning.candidates import thread_hours
from simbatch.planning.outputs import write_whatif
from simbatch.planning.saturation import saturation_notes
from simbatch.planning.search import BudgetSpentError, Search
from simbatch.planning.targets import Target, parse_target
from simbatch.present.pages import image, write_page
from simbatch.present.plan_report import plan_page
from simbatch.present.plots import literal
from simbatch.scenario.load import load
from simbatch.scenario.paths import changes_for, plain
from simbatch.scenario.settings import Variable, make_variable, split_vary
from simbatch.scenario.spec import Scenario
from simbatch.simulation import whole_number

__all__ = ["Plan", "plan"]


# ---- the result -----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Plan:
    """The least capacity found that meets the targets, and how it was found."""

    scenario: Scenario
    """The base scenario."""
    paths: tuple[str, ...]
    targets: tuple[Target, ...]
    confidence: float
    seed: int
    warmup: int
    """Waits of work ready before this (ns after the start) are left out of the metrics."""
    choice: dict[str, Any]
    """Each variable and its recommended value (the closest found when not met)."""
    met: bool
    """Whether the choice meets every target at the confidence."""
    estimates: pd.DataFrame
    """Per target at the choice: n, mean, two-sided interval, one-sided bound, met, its
    verdict (met, failed or undecided) and the interval it is judged by. For a share of
    runs (``deadline_miss``), n is the runs judged, pooled over the replications, and the
    interval is Wilson's; for any other metric, n is the replications and it is t."""
    evaluations: pd.DataFrame
    """One row per candidate tried: its values, cost, replications, verdict and estimates."""
    metrics: pd.DataFrame
    """Every replication's metric rows: candidate, replication, seed, metric, key, value."""
    runs: int
    """Simulation runs the search spent."""
    budget: int | None
    grid: int
    """How many candidates the full grid of the ranges holds."""
    base_thread_hours: float = math.nan
    """The base scenario's available thread-hours over the horizon, to set the cost against."""
    notes: tuple[str, ...] = ()
    """Monotonicity findings and why the search stopped early."""
    recommended: Scenario | None = field(default=None, repr=False)
    max_attempts: int | None = None
    """The work budget of each run (``simbatch.simulate``'s ``max_attempts``)."""
    variables: tuple[Variable, ...] = field(default=(), repr=False)
    levers: tuple[str, ...] = ()
    """The variables that are levers, not capacity: they rank by change and steps."""
    point: tuple[int, ...] = ()
    """The index of each variable's chosen value."""
    confirmation: pd.DataFrame | None = None
    """Lever plans: per target, the choice judged again on fresh replications (seeds the
    search never used): target, n, mean, interval, bound, met, verdict."""

    @property
    def rule(self) -> str:
        """What "least" meant for this plan, as the output states it."""
        if not self.levers:
            return "least: the least capacity (thread-hours over the horizon, weighted)"
        return ("least: the fewest settings changed from the base, then the smallest steps"
                " (list order for values, minutes for times), then the least capacity")

    @property
    def monotone(self) -> bool:
        """False when the data contradicted "more capacity never makes a target worse"."""
        return not any(n.startswith(("monotonicity", "more capacity", "adding one"))
                       for n in self.notes)

    def curve(self) -> pd.DataFrame:
        """Cost against each target metric: one row per candidate and target, by cost."""
        rows = []
        for record in self.evaluations.to_dict("records"):
            for target in self.targets:
                s = _slug(target)
                rows.append({**{p: record[p] for p in self.paths},
                             "candidate": record["candidate"], "cost": record["cost"],
                             "servers": record["servers"], "target": target.label,
                             **{name: record[f"{name}_{s}"] for name in _JUDGED},
                             "chosen": record["chosen"]})
        columns = [*self.paths, "candidate", "cost", "servers", "target", *_JUDGED, "chosen"]
        return pd.DataFrame(rows, columns=columns).sort_values(
            ["target", "cost"], kind="stable").reset_index(drop=True)

    def plot(self) -> Figure:
        """The curve: each target's metric (mean and interval) against cost, with the target."""
        curve = self.curve()
        fig = Figure(figsize=(6.5, 3.2 * len(self.targets)))
        for i, target in enumerate(self.targets):
            ax = fig.add_subplot(len(self.targets), 1, i + 1)
            mine = curve[curve.target == target.label]
            ok = mine.met.astype(bool)
            for shown, color, name in ((mine[ok], "C2", "meets"), (mine[~ok], "C3", "misses")):
                ax.errorbar(shown.cost, shown["mean"], yerr=[
                    (shown["mean"] - shown.ci_low).fillna(0),
                    (shown.ci_high - shown["mean"]).fillna(0)], fmt="o", color=color,
                    label=name, capsize=3)
            chosen = mine[mine.chosen.astype(bool)]
            ax.scatter(chosen.cost, chosen["mean"], s=160, facecolors="none",
                       edgecolors="black", label="choice", zorder=3)
            ax.axhline(target.value, color="grey", linestyle="--", label="target")
            ax.set_title(target.label)
            ax.set_xlabel("cost (thread-hours over the horizon)")
            ax.set_ylabel(target.metric + (" (s)" if target.kind == "time" else ""))
            ax.legend(fontsize="small")
        literal(fig).tight_layout()  # a target's label holds names: never mathtext
        return fig

    def changes(self) -> dict[str, Any]:
        """The recommendation as nested changes to the base: only the values that differ."""
        document = plain(self.scenario.document)
        changed: dict[str, Any] = {}
        for v, k in zip(self.variables, self.point, strict=True):
            if v.changed(k):
                changed |= v.setting(k)
        return changes_for(document, changed)

    def _base_values(self) -> dict[str, Any] | None:
        """Each variable's base value, None when one is not among its values."""
        if any(v.base is None for v in self.variables):
            return None
        return {v.key: v.values[v.base] for v in self.variables if v.base is not None}

    def write(self, out: str | Path) -> Path:
        """Write the recommendation as a what-if file that ``extends:`` the base file."""
        verdict = "targets met" if self.met else "targets NOT met; the best found"
        return write_whatif(out, self.scenario.source, self.changes(), [
            f"What if: the least {'change' if self.levers else 'capacity'} simbatch plan"
            f" found for {Path(self.scenario.source).name} ({verdict}).",
            *(f"  {t.label}" for t in self.targets),
            f"{self.confidence:.0%} one-sided bounds, seed {self.seed}, {self.runs} runs"
            " spent."])

    def write_report(self, out: str | Path, executor: Any = None) -> Path:
        """Write an HTML page: targets, the curve, and the choice against the base, paired.

        The base runs the choice's replication seeds, so the comparison is paired; its runs
        are reused from the search when the base is one of the candidates.
        """
        chosen = self.evaluations[self.evaluations.chosen]
        n = int(chosen.replications.iloc[0])
        base_values = self._base_values()
        diff = self._against_base(n, base_values, executor)
        page = plan_page(scenario=self.scenario.name, met=self.met, choice=self.choice,
                         base=base_values or {v.key: "(not listed)" for v in self.variables},
                         runs=self.runs,
                         budget=self.budget, tried=len(self.evaluations), grid=self.grid,
                         seed=self.seed, confidence=self.confidence, notes=self.notes,
                         estimates=self.estimates.copy(), plot=image(self.plot()), replications=n,
                         differences=diff,
                         candidates=self.evaluations)
        return write_page(out, page)

    def _against_base(self, n: int, base_values: dict[str, Any] | None, executor: Any
                      ) -> pd.DataFrame:
        """The choice minus the base over ``n`` paired replications: metric, key, mean and
        interval, in the metric rows' units (the page formats them)."""
        cid = int(self.evaluations[self.evaluations.chosen].candidate.iloc[0])
        rows = self.metrics
        same = [base_values is not None and all(r[p] == base_values[p] for p in self.paths)
                for r in self.evaluations.to_dict("records")]
        found = self.evaluations[same]
        if len(found) and int(found.replications.iloc[0]) >= n:
            base_rows = rows[rows.candidate == int(found.candidate.iloc[0])]
            base_rows = base_rows[base_rows.replication <= n].drop(columns="candidate")
        else:
            base_rows = replicate(self.scenario, n, self.seed, warmup=self.warmup,
                                  executor=executor, max_attempts=self.max_attempts).metrics
        mine = rows[rows.candidate == cid].drop(columns="candidate")
        both = pd.concat([base_rows.assign(variant="base"), mine.assign(variant="plan")],
                         ignore_index=True)[["variant", "replication", "seed", "metric",
                                             "key", "value"]]
        comparison = Comparison(("base", "plan"), self.seed, both)
        diff = comparison.differences(self.confidence)
        diff = diff[diff.metric.isin(["wait_mean_s", "wait_p95_s", "utilization",
                                      "backlog_at_horizon", "jobs_error", *(
                                          c for c in diff.metric.unique()
                                          if str(c).startswith(("deadline", "lateness")))])
                    & (diff.n > 0)]
        return diff[["metric", "key", "mean", "ci_low", "ci_high"]].reset_index(drop=True)


_JUDGED = ("n", "mean", "ci_low", "ci_high", "bound", "met")
"""What is judged per target: replications, mean, two-sided interval, one-sided bound, met."""


def _slug(target: Target) -> str:
    return re.sub(r"\W+", "_", target.label).strip("_")


# ---- the public entry -----------------------------------------------------------------------

def plan(scenario: Source, vary: Mapping[str, Any] | Sequence[str],
         targets: Sequence[str | Target], confidence: float = 0.95, *,
         replications: int = 10, max_replications: int | None = None,
         budget: int | None = None, weights: Mapping[str, float] | None = None,
         seed: int = 0, warmup: str | int = 0, executor: Any = None,
         max_attempts: int | None = None,
         ties: Mapping[str, Sequence[str]] | None = None) -> Plan:
    """The least change in ``vary``'s ranges that meets every target at ``confidence``.

    ``vary`` maps a setting to its values: a path (as in ``sweep``), a pattern such as
    ``servers.*.threads``, a name in ``ties`` (one value for several paths) or
    ``servers.count``, to a range of whole numbers, a list of values in order
    (``["normal", "high", "critical"]``, times ``["22:00", "22:30"]``) or a text as the
    command line writes it (``"4..16"``, ``"22:00..02:00/15m"``, ``"normal,high"``); or
    ``vary`` is a list of ``PATH=SPEC`` texts. ``targets`` are texts such as
    ``"wait_p95 <= 2m for Integration"``, or ``Target`` values. "Least" is the fewest
    levers changed from the base, then the smallest steps, then the least capacity
    (``simbatch.planning.candidates``). Each candidate starts with ``replications`` runs
    and gets more, in steps of as many, while its decision is close, up to
    ``max_replications`` (default 4 x ``replications``); ``budget`` caps the runs in all.
    ``weights`` multiply a capacity variable's thread-hours, or a lever's change and
    steps. ``executor`` is as for ``replicate``, and one pool serves the whole plan.
    ``max_attempts`` raises the work budget of each run, as for ``simulate``.
    """
    base = load(scenario)
    if not isinstance(vary, Mapping) and not isinstance(vary, str | bytes):
        vary = _vary_texts(vary)
    if not isinstance(vary, Mapping) or not vary:
        raise UsageError("plan takes vary={path: range}, such as"
                         " {'servers.AOS1.periods[1].threads': range(4, 17)}")
    if isinstance(targets, str | Target) or not targets:
        raise UsageError("plan takes a list of targets, such as ['wait_p95 <= 2m']")
    parsed = [t if isinstance(t, Target) else parse_target(t) for t in targets]
    if not (isinstance(confidence, float | int) and 0.5 <= confidence < 1):
        raise UsageError(f"confidence is in [0.5, 1), got {confidence!r}")
    n = whole_number(replications, "replications", 2)
    max_n = whole_number(max_replications if max_replications is not None else 4 * n,
                         "max_replications", n)
    if budget is not None:
        budget = whole_number(budget, "budget", 1)
    seed = whole_number(seed, "seed", 0)
    if max_attempts is not None:
        max_attempts = whole_number(max_attempts, "max_attempts", 1)
    document = plain(base.document)
    if ties is not None and not isinstance(ties, Mapping):
        raise UsageError(f"ties maps a name to paths, such as {{'night':"
                         f" ['servers.AOS1.threads', 'servers.AOS2.threads']}}, got {ties!r}")
    variables = [make_variable(document, str(key), span, ties) for key, span in vary.items()]
    paths = [v.key for v in variables]
    weights = dict(weights or {})
    unknown = set(weights) - set(paths)
    if unknown:
        raise UsageError(f"weights name paths that are not varied: {sorted(unknown)}")
    weight_list = [float(weights.get(p, 1.0)) for p in paths]
    if any(not math.isfinite(w) or w <= 0 for w in weight_list):
        raise UsageError(f"weights are positive numbers, got {weights}")
    workers = Workers(executor)
    finished = False
    try:
        search = Search(base, variables, weight_list, parsed, float(confidence), n,
                        max_n, budget, seed, parse_warmup(warmup), workers, max_attempts)
        search.check_budget()
        try:
            search.search()
        except BudgetSpentError:
            search.notes.append(f"the budget of {budget} runs was spent before the search"
                                " ended; the choice is the best decided so far")
        finished = True
    finally:
        workers.close(finished)
    search.settle()
    search.monotonicity()
    return _result(search, base, parsed, variables, seed, budget, max_attempts)


def _vary_texts(texts: Sequence[str]) -> dict[str, str]:
    """``PATH=SPEC`` texts (``split_vary``) as a mapping; a path given twice is refused."""
    vary: dict[str, str] = {}
    for text in texts:
        path, spec = split_vary(text)
        if path in vary:
            raise UsageError(f"--vary {path!r} is given twice")
        vary[path] = spec
    return vary


def _result(search: Search, base: Scenario, targets: list[Target],
            variables: list[Variable], seed: int, budget: int | None,
            max_attempts: int | None) -> Plan:
    tried = [c for c in search.candidates.values() if c.n]
    if not tried:
        raise UsageError(f"the budget of {budget} runs allowed no run at all")
    paths = [v.key for v in variables]
    levers = search.catalog.levers
    met = [c for c in tried if c.verdict == "met" and (c.confirmed or not levers)]
    best = (min(met, key=search.rank) if met else
            min(tried, key=lambda c: (search.judging.gap(c), *search.rank(c))))
    for c in sorted(tried, key=search.rank):
        if c.verdict == "unconfirmed" and c.fresh is not None:
            search.notes.append(
                f"{search.catalog.label(c.point)} met the targets on the search's"
                f" replications but not on {c.fresh.n} fresh ones, so it is not chosen")
    if not met:
        pending = [c for c in tried if c.verdict == "met" and c.confirmed is None]
        search.notes.append(
            "no setting in these ranges meets the targets; the closest is"
            f" {search.catalog.label(best.point)}" if not pending else
            f"{search.catalog.label(best.point)} met the targets on the search's"
            " replications, and the budget ran out before fresh replications could confirm"
            " it")
    confirmation = None
    if best.fresh is not None and search.columns is not None:
        fresh = best.fresh
        confirmation = pd.DataFrame(
            [{"target": t.label, "metric": t.metric,
              **dict(zip(_JUDGED, fresh.judged[t.label], strict=True)),
              "verdict": fresh.verdicts[t.label]} for t in targets])
    records = []
    for i, c in enumerate(tried):
        record: dict[str, Any] = {v.key: v.values[k] for v, k in zip(variables, c.point,
                                                                      strict=True)}
        record |= {"candidate": i, "changes": c.changes, "steps": c.steps, "cost": c.cost,
                   "thread_hours": c.thread_hours, "servers": c.servers,
                   "replications": c.n, "verdict": c.verdict, "chosen": c is best}
        for t in targets:
            n, mean, low, high, bound, ok = c.judged[t.label]
            s = _slug(t)
            record |= {f"{name}_{s}": value for name, value in zip(
                _JUDGED, (n, mean, low, high, bound, ok), strict=True)}
            record[f"verdict_{s}"] = c.verdicts[t.label]
        records.append(record)
    evaluations = pd.DataFrame(records)
    frames = [c.frame().assign(candidate=i) for i, c in enumerate(tried)]
    rows = pd.concat(frames, ignore_index=True)[
        ["candidate", "replication", "seed", "metric", "key", "value"]]
    assert search.columns is not None
    estimates = pd.DataFrame(
        [{"target": t.label, "metric": t.metric, "key": t.key, "op": t.op, "value": t.value,
          **dict(zip(_JUDGED, best.judged[t.label], strict=True)),
          "verdict": best.verdicts[t.label],
          "interval": "Wilson, runs pooled" if column in POOLED else "t, replications"}
         for t, column in zip(targets, search.columns, strict=True)])
    grid = math.prod(len(v.values) for v in variables)
    return Plan(base, tuple(paths), tuple(targets), search.confidence, seed, search.warmup,
                {v.key: v.values[k] for v, k in zip(variables, best.point, strict=True)},
                best.verdict == "met" and (bool(best.confirmed) or not levers), estimates,
                evaluations, rows, search.runs, budget, grid,
                thread_hours(base)[0],
                tuple(dict.fromkeys([*search.notes,
                                     *saturation_notes(evaluations, rows, paths)])),
                best.scenario,
                max_attempts, tuple(variables), tuple(paths[i] for i in levers), best.point,
                confirmation)
