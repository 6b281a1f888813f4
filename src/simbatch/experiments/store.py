"""The result store: every finished replication kept as parquet, and reused when asked again.

``replicate(..., store=FOLDER)`` and ``compare(..., store=FOLDER)`` write each replication
as soon as it is in, atomically, so an interrupted experiment resumes where it stopped.
A manifest (``experiment.json``) names the experiment; a folder of another experiment is
refused, and a stored replication that cannot be read or does not match is recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import filelock
import pandas as pd

from simbatch.errors import SimbatchWarning, StoreError, UsageError
from simbatch.files import replacing, write_bytes
from simbatch.scenario.spec import Scenario

__all__ = ["METRIC_COLUMNS", "Store", "fingerprint"]

METRIC_COLUMNS = ["replication", "seed", "metric", "key", "value"]
"""The columns of a replication's metric rows, as they are stored and returned."""


class Store:
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
        """Keep a finished replication's rows, tagged with its variant and fingerprint."""
        path = self.path(variant, replication)
        path.parent.mkdir(parents=True, exist_ok=True)
        tagged = frame.assign(variant=variant,
                              fingerprint=self.fingerprint["variants"][variant])
        with replacing(path) as (temp,):  # a reader never sees half a file
            tagged.to_parquet(temp, index=False)


def _warn(message: str) -> None:
    warnings.warn(message, SimbatchWarning, stacklevel=4)


def fingerprint(scenario: Scenario) -> str:
    """A digest of everything a scenario simulates (not where its file lives)."""
    text = repr(dataclasses.replace(scenario, source="", folder=None))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
