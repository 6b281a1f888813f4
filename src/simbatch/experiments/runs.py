"""Experiments: replications, paired comparisons and sweeps, on local cores or a cluster.

One simulated night is an anecdote; these turn runs into estimates with intervals.
- ``replicate`` runs a scenario n times, replication i with a seed derived from
  (seed, i), and returns tidy metric rows that carry the replication and its seed.
- ``compare`` runs several variants with the same replication seeds. Streams are keyed
  by job and task names, not by topology, so the variants see the same arrivals,
  durations and failures (common random numbers), and their paired differences are
  reported with confidence intervals.
- ``sweep`` runs a grid of changes addressed by path into the scenario.

Work runs on a local process pool by default; pass any executor with ``submit`` (a
``dask.distributed.Client`` included) to run elsewhere, or ``"serial"`` to stay in this
process. Results are identical whichever executor runs them. With ``store=`` every
finished replication is written atomically as parquet and reused when the experiment
runs again.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import filelock
import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

import simbatch
from simbatch.engine import budget
from simbatch import files as outputs
from simbatch.results import summary
from simbatch.experiments import executors as workers
from simbatch.results import metrics as metrics_module
from simbatch.errors import SimbatchWarning, StoreError, UsageError
from simbatch.scenario.load import load, load_document
from simbatch.results.result import Result
from simbatch.scenario.spec import Scenario
from simbatch.scenario.shape import format_path
from simbatch.simulation import whole_number
from simbatch.scenario.timegrammar import parse_duration_ns

__all__ = ["Comparison", "Replications", "compare", "replicate", "sweep"]

METRIC_COLUMNS = ["replication", "seed", "metric", "key", "value"]
Source = Scenario | str | Path | Mapping[str, Any]
T = TypeVar("T")


# ---- one replication ------------------------------------------------------------------------

def replication_seed(seed: int, replication: int) -> int:
    """The seed of replication ``replication`` (1, 2, …) of an experiment seeded ``seed``."""
    digest = hashlib.blake2b(f"simbatch replication {seed} {replication}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def metrics(result: Result, warmup: int = 0) -> pd.DataFrame:
    """A run's key figures as tidy rows (metric, key, value).

    Waits count attempts that became ready after the warm-up; utilization and job counts
    cover the whole horizon. Replications compute the same rows, equal bit for bit,
    straight from the recorder without building the tables (``simbatch.results.summary``); this
    table path is their reference.
    """
    tasks = result.tasks
    start = pd.Timestamp(result.scenario.start)
    after = tasks[tasks.ready >= start + pd.Timedelta(warmup, unit="ns")]
    waits = after.wait.dt.total_seconds()
    rows: list[tuple[str, str, float]] = []
    for key, w in [("all", waits), *((g, waits[after.group == g])
                                     for g in sorted(after.group.dropna().unique()))]:
        done = w.dropna()
        rows += [("tasks_started", key, float(len(done))),
                 ("wait_mean_s", key, float(done.mean()) if len(done) else np.nan),
                 ("wait_p95_s", key, float(done.quantile(0.95)) if len(done) else np.nan)]
    util = result.utilization()
    for server, value in zip(util["server"], util["utilization"].to_numpy(), strict=True):
        rows.append(("utilization", str(server), float(value)))
    jobs = result.jobs
    for status in ("Ended", "Error"):
        rows.append((f"jobs_{status.lower()}", "all", float((jobs.status == status).sum())))
    rows.append(("job_duration_mean_s", "all",
                 float(jobs.duration.dropna().dt.total_seconds().mean())
                 if jobs.duration.notna().any() else np.nan))
    rows.append(("backlog_at_horizon", "all",
                 float(tasks.status.isin(["Ready", "Waiting"]).sum())))
    rows += deadline_rows(result)
    return pd.DataFrame(rows, columns=["metric", "key", "value"])


def deadline_rows(result: Result) -> list[tuple[str, str, float]]:
    """Per job with a deadline (key = the job's name), its deadline metrics over the horizon.

    ``deadline_runs`` (judged: met + missed), ``deadline_misses``, ``deadline_miss`` (the
    share of judged runs missed, NaN when none was judged), ``deadline_undetermined`` (open
    at the horizon before their deadline), ``lateness_p50_s`` and ``lateness_p95_s`` (end -
    deadline over judged runs), ``margin_min_s`` (the smallest deadline - end over finished
    runs; negative when late) and ``latest_finish_s`` (the longest time from a run's due
    time, its ``scheduled``, to its end).
    """
    summary = metrics_module.deadline_summary(result)
    rows: list[tuple[str, str, float]] = []
    for row in summary.to_dict("records"):
        key = str(row["job"])
        rows += [("deadline_runs", key, float(row["runs"])),
                 ("deadline_misses", key, float(row["missed"])),
                 ("deadline_miss", key, float(row["miss_share"])),
                 ("deadline_undetermined", key, float(row["undetermined"])),
                 ("lateness_p50_s", key, _span_seconds(row["lateness_p50"])),
                 ("lateness_p95_s", key, _span_seconds(row["lateness_p95"])),
                 ("margin_min_s", key, _span_seconds(row["margin_min"])),
                 ("latest_finish_s", key, _span_seconds(row["latest_finish"]))]
    return rows


def _span_seconds(value: object) -> float:
    return float(value.total_seconds()) if isinstance(value, pd.Timedelta) and pd.notna(
        value) else np.nan


def _one(scenario: Scenario, replication: int, seed: int, warmup: int,
         max_attempts: int | None = None) -> pd.DataFrame:
    """Run one replication and return its metric rows (runs in a worker).

    The rows come from the recorder's columns (``simbatch.results.summary``), without building the
    tables; they equal ``metrics(simulate(scenario, seed), warmup)``.
    """
    frame = summary.replication_metrics(scenario, seed, warmup, max_attempts)
    frame.insert(0, "seed", seed)
    frame.insert(0, "replication", replication)
    return frame


def _chunk(scenario: Scenario, reps: Sequence[tuple[int, int]], warmup: int,
           max_attempts: int | None = None) -> list[pd.DataFrame]:
    """Several (replication, seed) of one scenario in one task: the scenario travels once."""
    return [_one(scenario, r, seed, warmup, max_attempts) for r, seed in reps]


def _shared_chunk(name: str, reps: Sequence[tuple[int, int]], warmup: int,
                  max_attempts: int | None = None) -> list[pd.DataFrame]:
    """``_chunk`` of the scenario that the worker's pool was started with under ``name``."""
    return _chunk(workers.shared()[name], reps, warmup, max_attempts)


# ---- where work runs ------------------------------------------------------------------------

def is_dask(executor: Any) -> bool:
    """Whether ``executor`` is a ``dask.distributed.Client`` (it scatters and gathers)."""
    return hasattr(executor, "scatter") and hasattr(executor, "gather")


def chunks(items: Sequence[T], parts: int) -> list[list[T]]:
    """``items`` cut into at most ``parts`` consecutive chunks of near-equal size."""
    size = max(1, math.ceil(len(items) / max(1, parts)))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _run_all(scenarios: Mapping[str, Scenario], jobs: list[tuple[str, int, int]],
             warmup: int, max_attempts: int | None, executor: Any,
             save: Callable[[int, pd.DataFrame], None], label: str) -> None:
    """Run every (variant, replication, seed) job, saving each result as soon as it is in.

    Each scenario goes to a worker once: a local pool starts its workers with all of
    them, a dask Client scatters each once, and any other executor gets one chunk of a
    variant's replications per core. Every replication depends only on its scenario,
    seed and warm-up, so the results are the same whichever executor runs them.
    """
    if not jobs:
        return
    with tqdm(total=len(jobs), desc=label, disable=None) as bar:
        if executor == "serial":
            for i, (name, r, seed) in enumerate(jobs):
                save(i, _one(scenarios[name], r, seed, warmup, max_attempts))
                bar.update()
            return
        own = executor is None
        pool: Any = workers.pool(shared=scenarios) if own else executor
        finished = False
        futures: dict[Any, list[int]] = {}
        try:
            for task, indices in _tasks(scenarios, jobs, pool, own):
                futures[pool.submit(*task, warmup, max_attempts)] = indices
            done_iter: Iterable[Any]
            if is_dask(pool):
                from distributed import as_completed
                done_iter = as_completed(list(futures))
            else:
                done_iter = concurrent.futures.as_completed(futures)
            for future in done_iter:
                for i, frame in zip(futures[future], future.result(), strict=True):
                    save(i, frame)
                bar.update(len(futures[future]))
            finished = True
        finally:
            if own:
                workers.close(pool, finished)
            elif not finished:
                for future in futures:
                    future.cancel()


def _tasks(scenarios: Mapping[str, Scenario], jobs: list[tuple[str, int, int]], pool: Any,
           own: bool) -> list[tuple[tuple[Any, ...], list[int]]]:
    """The tasks to submit (function and leading arguments) and the jobs each one runs."""
    if own:  # the workers hold every scenario: one task per replication, by name
        return [((_shared_chunk, name, [(r, seed)]), [i])
                for i, (name, r, seed) in enumerate(jobs)]
    names = list(dict.fromkeys(name for name, _, _ in jobs))
    if is_dask(pool):  # scattered once; each worker fetches it once and keeps it
        held = {name: pool.scatter(scenarios[name]) for name in names}
        return [((_chunk, held[name], [(r, seed)]), [i]) for i, (name, r, seed)
                in enumerate(jobs)]
    out: list[tuple[tuple[Any, ...], list[int]]] = []
    for name in names:  # any other executor: one chunk of each variant per core
        mine = [i for i, job in enumerate(jobs) if job[0] == name]
        for part in chunks(mine, os.cpu_count() or 1):
            reps = [(jobs[i][1], jobs[i][2]) for i in part]
            out.append(((_chunk, scenarios[name], reps), part))
    return out


def _check_executor(executor: Any) -> None:
    if executor is None or executor == "serial":
        return
    if isinstance(executor, str) or not callable(getattr(executor, "submit", None)):
        raise UsageError(f"executor is None (local processes), 'serial', or an executor with"
                         f" submit() such as a dask.distributed.Client; got {executor!r}")


class _Store:
    """A results folder: one parquet file per finished replication, and a manifest.

    One experiment owns the folder while it runs: a lock file (``.lock``, through
    ``filelock``) refuses a second one, even one started at the same instant. Every stored
    replication carries its replication, seed, variant and scenario fingerprint; one that
    cannot be read or does not match is recomputed with a warning, never mixed in.
    """

    def __init__(self, folder: str | Path, fingerprint: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {self.folder}: cannot be created ({exc})") from None
        self.lock = filelock.FileLock(self.folder / ".lock", timeout=0)
        try:
            self.lock.acquire()
        except filelock.Timeout:
            raise StoreError(f"store {self.folder} is in use by another experiment that is"
                             " running now; wait for it or use another folder") from None
        try:
            self._check_manifest()
        except BaseException:
            self.lock.release()
            raise

    def _check_manifest(self) -> None:
        manifest = self.folder / "experiment.json"
        found: Any = None
        if manifest.exists():
            try:
                found = json.loads(manifest.read_text(encoding="utf-8"))
                if not isinstance(found, dict):
                    raise ValueError(f"expected an object, got {type(found).__name__}")
            except (OSError, ValueError) as exc:
                _warn(f"store {self.folder}: experiment.json cannot be read ({exc}); writing"
                      " it anew and checking every stored replication against it")
                found = None
        if found is None:
            outputs.write_bytes(manifest, json.dumps(self.fingerprint, indent=2).encode())
        elif found != self.fingerprint:
            differs = sorted(k for k in {*found, *self.fingerprint}
                             if found.get(k) != self.fingerprint.get(k))
            raise UsageError(f"{self.folder} holds results of another experiment"
                             f" (differing: {', '.join(differs)}); use another folder")

    def close(self) -> None:
        """Let another experiment have the folder."""
        self.lock.release()

    def path(self, variant: str, replication: int) -> Path:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", variant)
        return self.folder / slug / f"replication-{replication:05d}.parquet"

    def load(self, variant: str, replication: int, seed: int) -> pd.DataFrame | None:
        """A stored replication that matches, or None (with a warning if one was unusable)."""
        path = self.path(variant, replication)
        if not path.exists():
            return None
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many kinds for a damaged file
            reason = " ".join(str(exc).split())[:200]
            _warn(f"store: {path} cannot be read ({type(exc).__name__}: {reason});"
                  " recomputing it")
            return None
        expected = {"replication": replication, "seed": seed, "variant": variant,
                    "fingerprint": self.fingerprint["variants"][variant]}
        missing = [c for c in [*METRIC_COLUMNS, *expected] if c not in frame.columns]
        if missing or frame.empty:
            _warn(f"store: {path} is not a stored replication (missing columns:"
                  f" {', '.join(missing) or 'none, but no rows'}); recomputing it")
            return None
        for column, value in expected.items():
            values = set(frame[column].tolist())
            if values != {value}:
                shown = ", ".join(repr(v) for v in sorted(values, key=str))
                _warn(f"store: {path} holds {column} {shown}, not {value!r}; recomputing it")
                return None
        return frame[METRIC_COLUMNS]

    def save(self, variant: str, replication: int, frame: pd.DataFrame) -> None:
        path = self.path(variant, replication)
        path.parent.mkdir(parents=True, exist_ok=True)
        tagged = frame.assign(variant=variant,
                              fingerprint=self.fingerprint["variants"][variant])
        with outputs.replacing(path) as (temp,):  # a reader never sees half a file
            tagged.to_parquet(temp, index=False)


def _warn(message: str) -> None:
    warnings.warn(message, SimbatchWarning, stacklevel=4)


def _fingerprint(scenario: Scenario) -> str:
    """A digest of everything a scenario simulates (not where its file lives)."""
    text = repr(dataclasses.replace(scenario, source="", folder=None))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _experiment(variants: Mapping[str, Scenario], replications: int, seed: int, warmup: int,
                executor: Any, store: str | Path | None, max_attempts: int | None = None
                ) -> tuple[pd.DataFrame, int]:
    """Run every variant's replications (reusing stored ones); return rows and reuse count."""
    replications = whole_number(replications, "replications", 1)
    seed = whole_number(seed, "seed", 0)
    if max_attempts is not None:
        max_attempts = whole_number(max_attempts, "max_attempts", 1)
    _check_executor(executor)
    for scenario in variants.values():  # refuse before any work starts
        budget.check(scenario, max_attempts)
    shelf = None
    if store is not None:
        shelf = _Store(store, {"simbatch": simbatch.__version__, "seed": seed,
                               "warmup_ns": warmup, "variants": {
                                   name: _fingerprint(s) for name, s in variants.items()}})
    try:
        return _replications(variants, replications, seed, warmup, executor, shelf,
                             max_attempts)
    finally:
        if shelf is not None:
            shelf.close()


def _replications(variants: Mapping[str, Scenario], replications: int, seed: int, warmup: int,
                  executor: Any, shelf: _Store | None, max_attempts: int | None
                  ) -> tuple[pd.DataFrame, int]:
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

    work = [(name, r, replication_seed(seed, r)) for name, r in jobs]
    _run_all(variants, work, warmup, max_attempts, executor, save, "replications")
    rows = pd.concat([frames[name, r].assign(variant=name) for name in variants
                      for r in range(1, replications + 1)], ignore_index=True)
    return rows[["variant", *METRIC_COLUMNS]], reused


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """Mean, standard deviation and a t confidence interval of ``values``."""
    n = len(values)
    mean = float(np.mean(values)) if n else np.nan
    if n < 2:
        return mean, np.nan, np.nan, np.nan
    sd = float(np.std(values, ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / np.sqrt(n)
    return mean, sd, mean - half, mean + half


SHARES = frozenset({"utilization", "deadline_miss"})
"""Metrics that are fractions in [0, 1]."""
SIGNED = frozenset({"lateness_p50_s", "lateness_p95_s", "margin_min_s"})
"""Metrics that may be negative; every other metric is a count or a time, at least 0."""


def metric_range(metric: str, difference: bool = False) -> tuple[float, float]:
    """The values a metric (or a difference of two of its values) can take."""
    if metric in SHARES:
        return (-1.0, 1.0) if difference else (0.0, 1.0)
    if metric in SIGNED or difference:
        return -np.inf, np.inf
    return 0.0, np.inf


def wilson(misses: float, runs: float, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``misses / runs``."""
    if runs <= 0:
        return np.nan, np.nan
    z = float(stats.norm.ppf((1 + confidence) / 2))
    p = misses / runs
    centre = (p + z * z / (2 * runs)) / (1 + z * z / runs)
    half = z / (1 + z * z / runs) * np.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs))
    low = 0.0 if misses <= 0 else max(0.0, float(centre - half))
    high = 1.0 if misses >= runs else min(1.0, float(centre + half))
    return low, high


def paired_share_difference(misses_a: np.ndarray, runs_a: np.ndarray, misses_b: np.ndarray,
                            runs_b: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Share b - share a of paired counts, with Newcombe's hybrid score interval.

    Each share is pooled over the replications (misses ÷ runs judged), and each gets a
    Wilson interval. They are combined by the square-and-add method with the correlation of
    the paired per-replication shares (Newcombe 1998, method 10; Zou and Donner's MOVER),
    so identical outcomes in both variants give a narrow interval around 0, and the bounds
    stay within [-1, 1].
    """
    total_a, total_b = float(runs_a.sum()), float(runs_b.sum())
    if total_a <= 0 or total_b <= 0:
        return np.nan, np.nan, np.nan
    pa, pb = misses_a.sum() / total_a, misses_b.sum() / total_b
    la, ua = wilson(float(misses_a.sum()), total_a, confidence)
    lb, ub = wilson(float(misses_b.sum()), total_b, confidence)
    both = (runs_a > 0) & (runs_b > 0)
    phi = 0.0
    if both.sum() > 1:
        xa, xb = misses_a[both] / runs_a[both], misses_b[both] / runs_b[both]
        if np.std(xa) > 0 and np.std(xb) > 0:
            phi = float(np.corrcoef(xa, xb)[0, 1])
    d = float(pb - pa)
    low = d - np.sqrt(max(0.0, (pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2))
    high = d + np.sqrt(max(0.0, (ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la)
                           + (pa - la) ** 2))
    return d, max(-1.0, low), min(1.0, high)


def _summarize(rows: pd.DataFrame, by: list[str], confidence: float,
               difference: bool = False) -> pd.DataFrame:
    """Per ``by`` group: n, mean, sd and a t interval clipped to the metric's range.

    Outside differences, ``deadline_miss`` gets a Wilson interval on its counts pooled
    over the replications (``deadline_misses`` ÷ ``deadline_runs``), and its mean is that
    pooled share.
    """
    out = []
    counts = {}
    if not difference:
        pooled = rows[rows.metric.isin(["deadline_misses", "deadline_runs"])]
        others = [c for c in by if c != "metric"]
        if len(pooled):
            counts = pooled.groupby([*others, "metric"], sort=False)["value"].sum().to_dict()
    for key, group in rows.groupby(by, sort=False):
        parts = key if isinstance(key, tuple) else (key,)
        metric = str(dict(zip(by, parts, strict=True))["metric"])
        values = group["value"].dropna().to_numpy()
        mean, sd, low, high = _interval(values, confidence)
        floor, ceiling = metric_range(metric, difference)
        low, high = (float(np.clip(low, floor, ceiling)), float(np.clip(high, floor, ceiling)))
        if metric == "deadline_miss" and not difference:
            rest = tuple(p for c, p in zip(by, parts, strict=True) if c != "metric")
            misses = counts.get((*rest, "deadline_misses"), np.nan)
            runs = counts.get((*rest, "deadline_runs"), np.nan)
            if runs > 0:
                mean = float(misses / runs)
                low, high = wilson(misses, runs, confidence)
        out.append([*parts, len(values), mean, sd, low, high])
    return pd.DataFrame(out, columns=[*by, "n", "mean", "sd", "ci_low", "ci_high"])


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
        return _summarize(self.metrics, ["metric", "key"], confidence)


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
        return _summarize(self.metrics, ["variant", "metric", "key"], confidence)

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
        table = _summarize(pd.concat(out), ["variant", "metric", "key"], confidence,
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


def replicate(scenario: Source, n: int, seed: int = 0, *, warmup: str | int = 0,
              executor: Any = None, store: str | Path | None = None,
              max_attempts: int | None = None) -> Replications:
    """Run ``n`` replications of a scenario; every metric row carries its replication and seed.

    ``warmup`` (a time such as ``"2h"``) leaves waits of work ready before it out of the
    metrics. ``executor`` is None (local processes), ``"serial"``, or any executor with
    ``submit`` such as a ``dask.distributed.Client``. ``store`` is a folder that keeps every
    finished replication and reuses it when the same experiment runs again.
    ``max_attempts`` raises the work budget of each run (``simbatch.engine.budget``).
    """
    loaded = load(scenario)
    rows, reused = _experiment({loaded.name: loaded}, n, seed, _warmup(warmup), executor,
                               store, max_attempts)
    return Replications(loaded, seed, rows.drop(columns="variant"), reused)


def compare(variants: Mapping[str, Source], replications: int = 30, seed: int = 0, *,
            warmup: str | int = 0, executor: Any = None,
            store: str | Path | None = None, max_attempts: int | None = None) -> Comparison:
    """Run variants on common random numbers; ``differences()`` are against the first one."""
    if not isinstance(variants, Mapping) or not variants:
        raise UsageError("compare takes a mapping of names to scenarios, such as"
                         " {'today': 'base.yaml', 'more servers': 'more.yaml'}")
    loaded = {str(name): load(s) for name, s in variants.items()}
    rows, reused = _experiment(loaded, replications, seed, _warmup(warmup), executor, store,
                               max_attempts)
    return Comparison(tuple(loaded), seed, rows, reused, tuple(loaded.values()))


def sweep(base: Source, grid: Mapping[str, Sequence[Any]], replications: int = 1,
          seed: int = 0, *, warmup: str | int = 0, executor: Any = None,
          max_attempts: int | None = None) -> pd.DataFrame:
    """One row of metric means per point of ``grid``, a product of values set by path.

    Paths address the scenario as error messages print them, such as
    ``servers.AOS1.threads`` or ``servers.AOS1.periods[1].threads``.
    """
    scenario = load(base)
    if not isinstance(grid, Mapping) or not grid:
        raise UsageError("sweep takes a grid of paths to lists of values, such as"
                         " {'servers.AOS1.threads': [8, 12, 16]}")
    paths = list(grid)
    columns: list[list[Any]] = []
    for path in paths:
        values = grid[path]
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
            raise UsageError(f"sweep grid {path!r}: give a list of values, got {values!r}")
        listed = list(values)
        if not listed:
            raise UsageError(f"sweep grid {path!r}: give at least one value")
        for i, value in enumerate(listed):
            if any(_same(value, other) for other in listed[:i]):
                raise UsageError(f"sweep grid {path!r}: the value {value!r} is given twice")
        columns.append(listed)
    points = list(itertools.product(*columns))
    variants = {}
    for point in points:
        label = ", ".join(f"{p}={v}" for p, v in zip(paths, point, strict=True))
        variants[label] = _with_values(scenario, dict(zip(paths, point, strict=True)), label)
    rows, _ = _experiment(variants, replications, seed, _warmup(warmup), executor, None,
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


def _warmup(value: str | int) -> int:
    try:
        return parse_duration_ns(value)
    except ValueError as exc:
        raise UsageError(f"warmup: {exc}") from None


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """``servers.AOS1.periods[1].threads`` as keys and list indices."""
    parts: list[str | int] = []
    position = 0
    for match in _PART.finditer(path):
        gap = path[position:match.start()]
        if gap not in ("", "."):
            raise UsageError(f"bad path {path!r}: write keys with dots and list items as [1]")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if not parts or position != len(path):
        raise UsageError(f"bad path {path!r}: write keys with dots and list items as [1]")
    return parts


def _with_values(scenario: Scenario, values: Mapping[str, Any], label: str) -> Scenario:
    """``scenario`` with each path set to its value, validated like any scenario."""
    document = copy.deepcopy(dict(scenario.document))
    for path, value in values.items():
        parts = parse_path(path)
        node: Any = document
        for depth, part in enumerate(parts[:-1]):
            where = format_path(tuple(parts[:depth + 1]))
            if isinstance(part, int):
                if not isinstance(node, list) or not 0 <= part < len(node):
                    raise UsageError(f"path {path!r}: {where} has no item [{part}]")
            elif not isinstance(node, dict) or part not in node:
                raise UsageError(f"path {path!r}: the scenario has no {where!r}")
            node = node[part]
        last = parts[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or not 0 <= last < len(node):
                raise UsageError(f"path {path!r}: no list item [{last}] there")
        elif not isinstance(node, dict):
            raise UsageError(f"path {path!r}: {last!r} is not inside a mapping")
        node[last] = value
    return load_document(document, f"{scenario.source} with {label}", scenario.folder,
                         scenario.name)
