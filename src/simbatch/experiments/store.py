"""The result store: every finished replication kept as parquet, and reused when asked again.

``replicate(..., store=FOLDER)`` and ``compare(..., store=FOLDER)`` write each replication
as soon as it is in, atomically, so an interrupted experiment resumes where it stopped.
A manifest (``experiment.json``) names the experiment; a folder of another experiment is
refused, and a stored replication that cannot be read or does not match is recomputed.

A stored replication is reused only once it passes every check (``Store.load``); any
other is recomputed with a warning that names the file and what is wrong, never trusted:
- its size: a regular file of at most ``MAX_BYTES``, whose parquet footer declares at
  most ``MAX_BYTES`` uncompressed and at most the rows its scenario can give
  (``max_rows``), checked before any row is read;
- its columns and their types: integer replication and seed, text metric and key, float
  value, and its tags (replication, seed, variant, scenario fingerprint);
- its rows: known metrics, no (metric, key) twice, keys that name the scenario's groups,
  servers and jobs, every server's utilization and every deadline job's figures present;
- its values: never infinite; counts whole, at least 0 and never NaN; shares in [0, 1];
  times at least 0 (lateness and margins may be negative); a wait NaN only where no
  attempt started.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import pandas as pd

from simbatch.errors import SimbatchWarning, StoreError, UsageError
from simbatch.experiments.intervals import metric_range
from simbatch.files import check_output, replacing, write_bytes
from simbatch.present.units import LABELS, PERCENT_METRICS
from simbatch.scenario.spec import Scenario

__all__ = ["COUNTS", "MAX_BYTES", "METRIC_COLUMNS", "Store", "fingerprint", "max_rows",
           "problem"]

METRIC_COLUMNS = ["replication", "seed", "metric", "key", "value"]
"""The columns of a replication's metric rows, as they are stored and returned."""

MAX_BYTES = 64 * 2**20
"""The largest stored replication read, on disk and uncompressed (64 MiB)."""

COUNTS = frozenset(m for m in LABELS if not m.endswith("_s") and m not in PERCENT_METRICS)
"""Metrics that count (attempts, runs): whole numbers, never NaN."""

_WAITS = ("tasks_started", "wait_mean_s", "wait_p95_s")
_DEADLINES = ("deadline_runs", "deadline_misses", "deadline_miss", "deadline_undetermined",
              "lateness_p50_s", "lateness_p95_s", "margin_min_s", "latest_finish_s")
_RUNS = ("jobs_ended", "jobs_error", "job_duration_mean_s", "backlog_at_horizon")
_TAGS = ["variant", "fingerprint"]


class Store:
    """A results folder: one parquet file per finished replication, and a manifest.

    One experiment owns the folder while it runs: a lock file (``.lock``, through
    ``filelock``) refuses a second one, even one started at the same instant. Every stored
    replication carries its replication, seed, variant and scenario fingerprint; one that
    cannot be read or does not match is recomputed with a warning, never mixed in.
    """

    def __init__(self, folder: str | Path, fingerprint: dict[str, Any],
                 scenarios: Mapping[str, Scenario] | None = None) -> None:
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.scenarios = dict(scenarios or {})
        """The variants' scenarios, when known: their names and sizes check the rows."""
        try:
            check_output(self.folder / "experiment.json")  # the rules of every output
        except UsageError as exc:
            raise StoreError(f"store {self.folder}: cannot be used ({exc})") from None
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
            write_bytes(manifest, json.dumps(self.fingerprint, indent=2).encode())
        elif found != self.fingerprint:
            differs = sorted(k for k in {*found, *self.fingerprint}
                             if found.get(k) != self.fingerprint.get(k))
            raise UsageError(f"{self.folder} holds results of another experiment"
                             f" (differing: {', '.join(differs)}); use another folder")

    def close(self) -> None:
        """Let another experiment have the folder."""
        self.lock.release()

    def path(self, variant: str, replication: int) -> Path:
        """Where a variant's replication is kept."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", variant)
        return self.folder / slug / f"replication-{replication:05d}.parquet"

    def load(self, variant: str, replication: int, seed: int) -> pd.DataFrame | None:
        """A stored replication that passes every check, or None (with a warning naming
        the file and what is wrong, when one was there but is not reused)."""
        path = self.path(variant, replication)
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            _unusable(path, f"cannot be read ({type(exc).__name__}: {exc})")
            return None
        try:
            return self._checked(path, info, variant, replication, seed)
        except _RefusedError as refused:
            _unusable(path, str(refused))
        except Exception as exc:  # pyarrow raises many kinds for a damaged file
            reason = " ".join(str(exc).split())[:200]
            _unusable(path, f"cannot be read ({type(exc).__name__}: {reason})")
        return None

    def _checked(self, path: Path, info: os.stat_result, variant: str, replication: int,
                 seed: int) -> pd.DataFrame:
        """The metric rows stored at ``path``, once every check passes (else
        ``_RefusedError``, with why)."""
        if not stat.S_ISREG(info.st_mode):
            raise _RefusedError("is not a regular file")
        if info.st_size > MAX_BYTES:
            raise _RefusedError(f"is {info.st_size:,} bytes, more than a stored"
                                f" replication's {MAX_BYTES:,}")
        scenario = self.scenarios.get(variant)
        frame = _read(path, max_rows(scenario) if scenario is not None else None)
        expected = {"replication": replication, "seed": seed, "variant": variant,
                    "fingerprint": self.fingerprint["variants"][variant]}
        for column, value in expected.items():
            values = set(frame[column].tolist())
            if values != {value}:
                shown = ", ".join(repr(v) for v in sorted(values, key=str)[:5])
                raise _RefusedError(f"holds {column} {shown}, not {value!r}")
        wrong = problem(frame[METRIC_COLUMNS], scenario)
        if wrong is not None:
            raise _RefusedError(wrong)
        return frame[METRIC_COLUMNS].reset_index(drop=True)

    def save(self, variant: str, replication: int, frame: pd.DataFrame) -> None:
        """Keep a finished replication's rows, tagged with its variant and fingerprint."""
        path = self.path(variant, replication)
        tagged = frame.assign(variant=variant,
                              fingerprint=self.fingerprint["variants"][variant])
        with replacing(path) as (temp,):  # a reader never sees half a file
            tagged.to_parquet(temp, index=False)


def _warn(message: str) -> None:
    warnings.warn(message, SimbatchWarning, stacklevel=4)


def _unusable(path: Path, why: str) -> None:
    """Warn that the stored replication at ``path`` is recomputed, and why."""
    warnings.warn(f"store: {path} {why}; recomputing it", SimbatchWarning, stacklevel=4)


class _RefusedError(Exception):
    """A stored file that is readable but not a replication to reuse (the reason)."""


def max_rows(scenario: Scenario) -> int:
    """The most metric rows one replication of ``scenario`` gives: three wait figures for
    all and per group, one utilization per server, four run figures, and eight deadline
    figures per job with a deadline."""
    deadlines = sum(job.deadline is not None for job in scenario.jobs)
    return (len(_WAITS) * (len(scenario.groups) + 1) + len(scenario.servers) + len(_RUNS)
            + len(_DEADLINES) * deadlines)


def _read(path: Path, rows: int | None) -> pd.DataFrame:
    """The stored frame at ``path``, read once its footer shows it small enough and shaped
    as a replication, with its columns' types checked (else ``_RefusedError``, with why)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    with pq.ParquetFile(path) as stored:
        meta = stored.metadata
        columns = stored.schema_arrow.names
        missing = [c for c in [*METRIC_COLUMNS, *_TAGS] if c not in columns]
        if missing or meta.num_rows == 0:
            raise _RefusedError(f"is not a stored replication (missing columns:"
                           f" {', '.join(missing) or 'none, but no rows'})")
        if rows is not None and meta.num_rows > rows:
            raise _RefusedError(f"holds {meta.num_rows:,} rows; its scenario gives at most"
                           f" {rows:,}")
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if size > MAX_BYTES:
            raise _RefusedError(f"holds {size:,} bytes uncompressed, more than a stored"
                           f" replication's {MAX_BYTES:,}")
        frame: pd.DataFrame = stored.read(columns=[*METRIC_COLUMNS, *_TAGS]).to_pandas()
    for column, kind in (("replication", "i"), ("seed", "i"), ("value", "f")):
        dtype = frame[column].dtype
        if not isinstance(dtype, np.dtype) or dtype.kind != kind:
            raise _RefusedError(f"holds {column} of type {dtype}, not"
                           f" {'whole numbers' if kind == 'i' else 'floats'}")
    for column in ("metric", "key", *_TAGS):
        if not all(isinstance(v, str) for v in frame[column].tolist()):
            raise _RefusedError(f"holds {column} values that are not text")
    return frame


def problem(rows: pd.DataFrame, scenario: Scenario | None = None) -> str | None:
    """What is wrong with a replication's metric rows (metric, key, value), or None.

    Without ``scenario`` the keys are not checked against its names.
    """
    unknown = sorted(set(rows["metric"]) - set(LABELS))
    if unknown:
        return f"holds unknown metric {_excerpt(unknown[0])}"
    twice = rows.duplicated(["metric", "key"])
    if twice.any():
        metric, key = rows.loc[twice, ["metric", "key"]].iloc[0]
        return f"holds {metric} for {_excerpt(key)} twice"
    for metric, key, value in rows[["metric", "key", "value"]].itertuples(index=False):
        low, high = metric_range(metric)
        if math.isinf(value) or (not math.isnan(value) and not low <= value <= high):
            return f"holds {metric} {value!r} for {_excerpt(key)}, outside [{low:g}, {high:g}]"
        if metric in COUNTS and (math.isnan(value) or value != round(value)):
            return f"holds {metric} {value!r} for {_excerpt(key)}, not a count"
    keys = {m: set(g) for m, g in rows.groupby("metric", sort=False)["key"]}
    waits = [keys.get(m, set()) for m in _WAITS]
    if any(k != waits[0] for k in waits) or "all" not in waits[0]:
        return "does not hold the wait figures for all and the same groups"
    started = rows[rows["metric"] == "tasks_started"].set_index("key")["value"]
    for metric in ("wait_mean_s", "wait_p95_s"):
        mine = rows[rows["metric"] == metric].set_index("key")["value"]
        empty = mine.isna() & (started.reindex(mine.index) > 0)
        if empty.any():
            return f"holds {metric} NaN for {_excerpt(empty.idxmax())}, where attempts started"
    if any(keys.get(m) != {"all"} for m in _RUNS):
        return "does not hold each run figure once, for all"
    if scenario is None:
        return None
    judged = frozenset(j.name for j in scenario.jobs if j.deadline is not None)
    expected = {"utilization": frozenset(s.name for s in scenario.servers),
                **dict.fromkeys(_DEADLINES, judged)}
    for metric, names in expected.items():
        if keys.get(metric, set()) != names:
            return f"does not hold {metric} for exactly its scenario's names"
    foreign = waits[0] - {"all"} - {g.name for g in scenario.groups}
    if foreign:
        return f"holds waits of {_excerpt(min(foreign))}, not a group of its scenario"
    return None


def _excerpt(text: object, limit: int = 80) -> str:
    """``text`` quoted, cut to about ``limit`` characters."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit - 1] + "…"


def fingerprint(scenario: Scenario) -> str:
    """A digest of everything a scenario simulates (not where its file lives)."""
    text = repr(dataclasses.replace(scenario, source="", folder=None))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
