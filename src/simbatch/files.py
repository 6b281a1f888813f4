"""Every output file, written atomically: a reader (or an interrupted run) sees the old file
or the new one, never half of one. And every input file, read within a bound
(``read_limited``): never a device or FIFO, never more than its limit.

A new file gets the permissions ``open()`` would give it (``0o666`` less the umask: 0644
under the usual umask 022), not the 0600 of a bare temporary file.

Where an output may go (``check_output``, applied to every output before anything is
written; docs/explanation/validation-and-limits.md, "Outputs and paths"):
- an output replaces a regular file, or is new; a folder, a FIFO, a socket or a device
  (``/dev/null``, ``/dev/full``) at its path is refused, never replaced, and so is a symlink
  to one of them (a symlink to a regular file is itself replaced by the new file; the file
  it pointed to is left alone);
- missing parent folders are created under the nearest folder that exists, unless that
  folder is the filesystem's root (``/nonexistent/out.html`` is refused: a typo, not a
  place to create); a file in the way of a parent folder is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from simbatch.errors import UsageError

__all__ = ["SpecialFileError", "check_output", "read_limited", "replacing", "write_bytes",
           "write_text"]


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


def _kind(mode: int) -> str | None:
    """What a file of ``mode`` is, when it is something an output must not replace."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), None)


class SpecialFileError(Exception):
    """A path to read is not a regular file (a folder, device, FIFO or socket): ``mode``."""

    def __init__(self, mode: int) -> None:
        self.mode = mode
        super().__init__(f"not a regular file (mode {mode:o})")


def read_limited(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``: at most ``limit + 1`` of them, so a caller
    sees a file longer than ``limit`` without reading it all.

    A folder, device, FIFO or socket is refused (``SpecialFileError``) from its ``stat``
    before it is opened, and again from the open file (it may have been swapped in
    between); it is opened without blocking, so a FIFO never hangs the reader. Other
    problems are the system's ``OSError``.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise SpecialFileError(mode)
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise SpecialFileError(mode)
        return file.read(limit + 1)


def check_output(path: str | Path) -> Path:
    """Refuse an output path that would replace a special file or create folders where a
    user would not expect (``UsageError`` naming the path); returns the path.

    Refused: a folder, FIFO, socket or device at ``path`` (a symlink is followed); a parent
    that exists but is not a folder; missing parents directly under the filesystem root.
    Nothing is created here: ``replacing`` creates the missing parents after every output
    has passed.
    """
    out = Path(path)
    try:
        mode: int | None = out.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # a parent that is a file: see below
        mode = None
    if mode is not None:
        kind = _kind(mode)
        if kind is not None:
            raise UsageError(f"{out}: is {kind}; an output is written as a regular file and"
                             " never replaces a folder, FIFO, socket or device")
        return out
    full = out.absolute()  # a relative path's parents end at the working folder, not the root
    existing = full.parent
    while True:
        try:
            mode = existing.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            mode = None
        if mode is not None or existing.parent == existing:
            break
        existing = existing.parent
    if mode is None:
        raise UsageError(f"{out}: no folder of it exists")
    if not stat.S_ISDIR(mode):
        raise UsageError(f"{out}: {existing} is {_kind(mode) or 'a file'}, not a folder")
    if existing != full.parent and existing.parent == existing:
        top = full.parent
        while top.parent != existing:
            top = top.parent
        raise UsageError(f"{out}: the folder {top} does not exist; simbatch creates missing"
                         " folders under an existing folder, never directly under the"
                         f" filesystem root {existing}")
    return out


@contextlib.contextmanager
def replacing(*paths: Path) -> Iterator[list[Path]]:
    """Temporary paths beside ``paths``; on success each replaces its target, else none does.

    The temporary files are in the targets' folders (so ``os.replace`` is atomic), carry the
    permissions of a newly created file, and are removed if the block raises, Ctrl-C
    included. Every path is checked first (``check_output``): nothing is created or
    written when one is refused. Missing folders are then created.
    """
    for path in paths:
        check_output(path)
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
