"""Every output file, written atomically: a reader (or an interrupted run) sees the old file
or the new one, never half of one.

A new file gets the permissions ``open()`` would give it (``0o666`` less the umask: 0644
under the usual umask 022), not the 0600 of a bare temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["replacing", "write_bytes", "write_text"]


def _umask() -> int:
    """The process's umask, read without changing it where the system shows it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and set it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(*paths: Path) -> Iterator[list[Path]]:
    """Temporary paths beside ``paths``; on success each replaces its target, else none does.

    The temporary files are in the targets' folders (so ``os.replace`` is atomic), carry the
    permissions of a newly created file, and are removed if the block raises, Ctrl-C
    included. Missing folders are created.
    """
    temps: list[Path] = []
    try:
        mode = 0o666 & ~_umask()
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                            dir=path.parent)
            try:
                os.fchmod(handle, mode)
            finally:
                os.close(handle)
            temps.append(Path(name))
        yield temps
        for temp, path in zip(temps, paths, strict=True):
            os.replace(temp, path)
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def write_bytes(path: str | Path, data: bytes) -> Path:
    """``path.write_bytes(data)``, atomically; returns the path."""
    out = Path(path)
    with replacing(out) as (temp,):
        temp.write_bytes(data)
    return out


def write_text(path: str | Path, text: str) -> Path:
    """``path.write_text(text, encoding="utf-8")``, atomically; returns the path."""
    out = Path(path)
    with replacing(out) as (temp,):
        temp.write_text(text, encoding="utf-8")
    return out
