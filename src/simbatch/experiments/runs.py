"""Experiments: replications, paired comparisons and sweeps, on local cores or a cluster.

One simulated night is an anecdote; these turn runs into estimates with intervals.
- ``replicate`` runs a scenario n times, replication i with a seed derived from
  (seed, i), and returns tidy metric rows that carry the replication and its seed.
- ``compare`` runs several variants with the same replication seeds. Streams are keyed
  by job and task names, not by topology, so the variants see the same arrivals,
  durations and failures (common random numbers), and their paired differences are
  reported with confidence intervals.
- ``sweep`` runs a grid of changes addressed by path into the scenario.

Work runs on the one fan-out (``simbatch.experiments.executors``): a local process pool
by default; pass any executor with ``submit`` (a ``dask.distributed.Client`` included) to
run elsewhere, or ``"serial"`` to stay in this process. Results are identical whichever
executor runs them. With ``store=`` every finished replication is written atomically as
parquet and reused when the experiment runs again (``simbatch.experiments.store``);
intervals come from ``simbatch.experiments.intervals``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simbatch.engine import budget
from simbatch.errors import UsageError
from simbatch.experiments import executors
from simbatch.experiments.intervals import paired_share_difference, summarize
from simbatch.experiments.store import METRIC_COLUMNS, Store, fingerprint
from simbatch.results import summary
from simbatch.scenario.load import load, load_document
from simbatch.scenario.paths import set_values
from simbatch.scenario.settings import MAX_VALUES, make_variable
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import parse_duration_ns
from simbatch.simulation import whole_number
from simbatch.version import __version__

__all__ = ["Comparison", "Replications", "Source", "compare", "parse_warmup", "replicate",
           "replication_seed", "run_replication", "sweep"]

Source = Scenario | str | Path | Mapping[str, Any]
"""What every entry point takes: a Scenario, a scenario file, or a scenario document."""


# ---- one replication ------------------------------------------------------------------------

def replication_seed(seed: int, replication: int) -> int:
    """The seed of replication ``replication`` (1, 2, …) of an experiment seeded ``seed``."""
    digest = hashlib.blake2b(f"simbatch replication {seed} {replication}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def run_replication(scenario: Scenario, replication: tuple[int, int], warmup: int,
                    max_attempts: int | None = None) -> pd.DataFrame:
    """Run one (replication, seed) of ``scenario`` and return its metric rows (in a worker).

    The rows come from the recorder's columns (``simbatch.results.summary``), without building the
    tables; they equal ``metrics(simulate(scenario, seed), warmup)``.
    """
    number, seed = replication
    frame = summary.replication_metrics(scenario, seed, warmup, max_attempts)
    frame.insert(0, "seed", seed)
    frame.insert(0, "replication", number)
    return frame


# ---- an experiment --------------------------------------------------------------------------

def _experiment(variants: Mapping[str, Scenario], replications: int, seed: int, warmup: int,
                executor: Any, store: str | Path | None, max_attempts: int | None = None
                ) -> tuple[pd.DataFrame, int]:
    """Run every variant's replications (reusing stored ones); return rows and reuse count."""
    replications = whole_number(replications, "replications", 1)
    seed = whole_number(seed, "seed", 0)
    if max_attempts is not None:
        max_attempts = whole_number(max_attempts, "max_attempts", 1)
    executors.check_executor(executor)
    for scenario in variants.values():  # refuse before any work starts
        budget.check(scenario, max_attempts)
    shelf = None
    if store is not None:
        shelf = Store(store, {"simbatch": __version__, "seed": seed,
                              "warmup_ns": warmup, "variants": {
                                  name: fingerprint(s) for name, s in variants.items()}},
                      variants)
    try:
        return _replications(variants, replications, seed, warmup, executor, shelf,
                             max_attempts)
    finally:
        if shelf is not None:
            shelf.close()


def _replications(variants: Mapping[str, Scenario], replications: int, seed: int, warmup: int,
                  executor: Any, shelf: Store | None, max_attempts: int | None
                  ) -> tuple[pd.DataFrame, int]:
    """Every variant's replications, read from ``shelf`` or run (and kept there) on the
    one fan-out, as metric rows with a ``variant`` column; and how many were read."""
    frames: dict[tuple[str, int], pd.DataFrame] = {}
    jobs: list[tuple[str, int]] = []
    for name in variants:
        for r in range(1, replications + 1):
            found = (shelf.load(name, r, replication_seed(seed, r)) if shelf is not None
                     else None)
            if found is not None:
                frames[name, r] = found
            else:
                jobs.append((name, r))
    reused = len(frames)

    def save(i: int, frame: pd.DataFrame) -> None:
        name, r = jobs[i]
        if shelf is not None:
            shelf.save(name, r, frame)
        frames[name, r] = frame

    items = [(name, (r, replication_seed(seed, r))) for name, r in jobs]
    executors.fan_out(run_replication, variants, items, (warmup, max_attempts), executor,
                      shared=True, done=save, label="replications")
    rows = pd.concat([frames[name, r].assign(variant=name) for name in variants
                      for r in range(1, replications + 1)], ignore_index=True)
    return rows[["variant", *METRIC_COLUMNS]], reused


# ---- the public API -------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Replications:
    """Replications of one scenario: tidy metric rows and their intervals."""

    scenario: Scenario
    seed: int
    metrics: pd.DataFrame
    """One row per (replication, metric, key): replication, seed, metric, key, value."""
    reused: int = 0
    """Replications read back from the store instead of simulated."""

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """Per metric and key: n, mean, sd and a confidence interval.

        Intervals are t intervals clipped to the metric's range (a count or share never
        gets a negative bound); ``deadline_miss`` gets a Wilson interval on its pooled
        counts.
        """
        return summarize(self.metrics, ["metric", "key"], confidence)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Variants run on common random numbers, and their differences from the first."""

    variants: tuple[str, ...]
    seed: int
    metrics: pd.DataFrame
    """One row per (variant, replication, metric, key)."""
    reused: int = 0
    scenarios: tuple[Scenario, ...] = ()
    """The variants' scenarios, in the order of ``variants``."""

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """Per variant, metric and key: n, mean, sd and a t confidence interval."""
        return summarize(self.metrics, ["variant", "metric", "key"], confidence)

    def differences(self, confidence: float = 0.95) -> pd.DataFrame:
        """Each variant minus the baseline (the first), paired by replication, with intervals.

        Differences get paired t intervals; ``deadline_miss`` gets the difference of its
        pooled shares with Newcombe's paired score interval, within [-1, 1].
        """
        wide = self.metrics.set_index(["metric", "key", "replication", "variant"])[
            "value"].unstack("variant")
        base = self.variants[0]
        out = []
        for variant in self.variants[1:]:
            diff = (wide[variant] - wide[base]).rename("value").reset_index()
            diff["variant"] = variant
            out.append(diff)
        if not out:
            return pd.DataFrame(columns=["variant", "metric", "key", "n", "mean", "sd",
                                         "ci_low", "ci_high"])
        table = summarize(pd.concat(out), ["variant", "metric", "key"], confidence,
                           difference=True)
        shares = table.index[table.metric == "deadline_miss"]
        for i in shares:
            variant, key = str(table.at[i, "variant"]), str(table.at[i, "key"])
            mean, low, high = paired_share_difference(
                _counts(wide, "deadline_misses", key, base),
                _counts(wide, "deadline_runs", key, base),
                _counts(wide, "deadline_misses", key, variant),
                _counts(wide, "deadline_runs", key, variant), confidence)
            if np.isfinite(mean):
                table.loc[i, ["mean", "ci_low", "ci_high"]] = [mean, low, high]
        return table


def _counts(wide: pd.DataFrame, metric: str, key: str, variant: str) -> np.ndarray:
    """One variant's per-replication values of a metric and key (0 where missing)."""
    rows = wide[(wide.index.get_level_values("metric") == metric)
                & (wide.index.get_level_values("key") == key)]
    return rows[variant].fillna(0).to_numpy(float)


def replicate(scenario: Source, replications: int, seed: int = 0, *, warmup: str | int = 0,
              executor: Any = None, store: str | Path | None = None,
              max_attempts: int | None = None) -> Replications:
    """Run ``replications`` replications of a scenario; every metric row carries its
    replication and seed.

    ``warmup`` (a time such as ``"2h"``) leaves waits of work ready before it out of the
    metrics. ``executor`` is None (local processes), ``"serial"``, or any executor with
    ``submit`` such as a ``dask.distributed.Client``. ``store`` is a folder that keeps every
    finished replication and reuses it when the same experiment runs again.
    ``max_attempts`` raises the work budget of each run (``simbatch.engine.budget``).
    """
    loaded = load(scenario)
    rows, reused = _experiment({loaded.name: loaded}, replications, seed, parse_warmup(warmup),
                               executor, store, max_attempts)
    return Replications(loaded, seed, rows.drop(columns="variant"), reused)


def compare(variants: Mapping[str, Source], replications: int = 30, seed: int = 0, *,
            warmup: str | int = 0, executor: Any = None,
            store: str | Path | None = None, max_attempts: int | None = None) -> Comparison:
    """Run variants on common random numbers; ``differences()`` are against the first one."""
    if not isinstance(variants, Mapping) or not variants:
        raise UsageError("compare takes a mapping of names to scenarios, such as"
                         " {'today': 'base.yaml', 'more servers': 'more.yaml'}")
    loaded = {str(name): load(s) for name, s in variants.items()}
    rows, reused = _experiment(loaded, replications, seed, parse_warmup(warmup), executor, store,
                               max_attempts)
    return Comparison(tuple(loaded), seed, rows, reused, tuple(loaded.values()))


def sweep(base: Source, grid: Mapping[str, Sequence[Any]], replications: int = 1,
          seed: int = 0, *, warmup: str | int = 0, executor: Any = None,
          max_attempts: int | None = None) -> pd.DataFrame:
    """One row of metric means per point of ``grid``, a product of values set by path.

    Paths address the scenario as error messages print them, such as
    ``servers.AOS1.threads`` or ``servers.AOS1.periods[1].threads``; a pattern
    (``servers.*.threads``) sets every path it matches, and ``servers.count`` the number of
    servers. Values are a list, or a text as ``--vary`` writes it (``"4..16/4"``,
    ``"22:00..02:00/15m"``, ``"normal,high,critical"``; ``simbatch.scenario.settings``).
    """
    scenario = load(base)
    if not isinstance(grid, Mapping) or not grid:
        raise UsageError("sweep takes a grid of paths to lists of values, such as"
                         " {'servers.AOS1.threads': [8, 12, 16]}")
    paths = list(grid)
    columns: list[list[Any]] = []
    for path in paths:
        values = grid[path]
        if isinstance(values, str):
            values = make_variable(scenario.document, path, values).values
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
            raise UsageError(f"sweep grid {path!r}: give a list of values, got {values!r}")
        listed = list(values)
        if not listed:
            raise UsageError(f"sweep grid {path!r}: give at least one value")
        for i, value in enumerate(listed):
            if any(_same(value, other) for other in listed[:i]):
                raise UsageError(f"sweep grid {path!r}: the value {value!r} is given twice")
        columns.append(listed)
    size = math.prod(len(c) for c in columns)
    if size > MAX_VALUES:
        raise UsageError(f"sweep grid: {size:,} points, more than {MAX_VALUES:,}; narrow the"
                         " ranges or take larger steps")
    points = list(itertools.product(*columns))
    variants = {}
    for point in points:
        label = ", ".join(f"{p}={v}" for p, v in zip(paths, point, strict=True))
        document = set_values(scenario.document, dict(zip(paths, point, strict=True)))
        variants[label] = load_document(document, f"{scenario.source} with {label}",
                                        scenario.folder, scenario.name)
    rows, _ = _experiment(variants, replications, seed, parse_warmup(warmup), executor, None,
                          max_attempts)
    means = rows.groupby(["variant", "metric", "key"], sort=False)["value"].mean()
    wide = means.unstack(["metric", "key"])
    wide.columns = [f"{column[0]}[{column[1]}]" for column in wide.columns]
    wide = wide.loc[list(variants)].reset_index(drop=True)
    params = pd.DataFrame(points, columns=paths)
    return pd.concat([params, wide], axis=1)


def _same(a: Any, b: Any) -> bool:
    """Whether two grid values are the same value (numpy values compared as plain ones)."""
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return False


def parse_warmup(value: str | int) -> int:
    """A warm-up (a time such as ``"2h"``, or ns) in ns; a UsageError names ``warmup``."""
    try:
        return parse_duration_ns(value)
    except ValueError as exc:
        raise UsageError(f"warmup: {exc}") from None

