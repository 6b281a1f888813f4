"""What several commands share: the help layout, the common options and their checks."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TypeAlias

import simbatch

excerpt = simbatch.errors.excerpt

__all__ = ["Commands", "HelpFormatter", "add_command", "add_dask", "add_max_attempts", "close",
           "executor", "names", "not_a_folder"]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the example in a command's epilog as written (each option states its default)."""


def add_command(commands: Commands, name: str, summary: str, example: str,
                setup: str = "") -> argparse.ArgumentParser:
    """Add the subcommand ``name``, with ``summary`` in the list and ``example`` below its help.

    ``example`` is the command line after ``simbatch name``, on bundled files under
    ``scenarios/``; ``setup``, when given, is a comment line before it that says how to make
    the example's other inputs.
    """
    lines = [f"# {setup}"] if setup else []
    lines.append(f"simbatch {name} {example}")
    command = commands.add_parser(name, help=summary, description=summary,
                                  epilog="example:\n" + "".join(f"  {line}\n" for line in lines),
                                  formatter_class=HelpFormatter)
    command.set_defaults(parser=command)  # main refuses stray arguments with its usage
    return command


def add_max_attempts(command: argparse.ArgumentParser) -> None:
    """The ``--max-attempts`` guard of the commands that simulate."""
    command.add_argument("--max-attempts", type=int, metavar="N", default=None,
                         help="refuse a run expected to simulate more task attempts than N"
                         f" (default: {simbatch.MAX_ATTEMPTS:,}, about"
                         f" {simbatch.MAX_ATTEMPTS * simbatch.BYTES_PER_ATTEMPT / 1e9:.1f} GB)")


def add_dask(command: argparse.ArgumentParser) -> None:
    """The ``--dask ADDRESS`` option of the commands that fan runs out."""
    command.add_argument("--dask", metavar="ADDRESS", help="run on a dask.distributed"
                         " scheduler at ADDRESS (default: local processes)")


def not_a_folder(path: Path | None, option: str, what: str = "file") -> None:
    """Refuse a file option (``--out``, ``--report``, …) that names an existing folder."""
    if path is not None and path.is_dir():
        raise simbatch.UsageError(f"--{option} {path}: is a folder; name the {what}")


def names(files: list[Path]) -> list[str]:
    """Variant names for scenario files: their stems, or their paths when stems clash."""
    if len({f.resolve() for f in files}) != len(files):
        raise simbatch.UsageError("the same scenario file is given twice; compare different"
                                  " files")
    stems = [f.stem for f in files]
    return stems if len(set(stems)) == len(stems) else [str(f) for f in files]


_ADDRESS = re.compile(r"^(?:(tcp|tls|inproc|ws|wss|ucx)://)?([A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\])"
                      r":([0-9]{1,5})$")


def executor(address: str | None) -> object:
    """The executor of ``--dask ADDRESS``: a dask.distributed client, or None (local)."""
    if address is None:
        return None
    match = _ADDRESS.match(address.strip())
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise simbatch.UsageError(f"--dask {excerpt(address)}: write the scheduler's address as"
                                  " HOST:PORT or tcp://HOST:PORT, such as tcp://10.0.0.5:8786")
    try:
        from distributed import Client
    except ImportError:
        raise simbatch.UsageError("--dask needs dask.distributed: pip install"
                                  " 'simbatch[cluster]'") from None
    try:
        return Client(address.strip(), timeout="10s")
    except (OSError, ValueError, TypeError) as exc:
        raise simbatch.UsageError(f"--dask {excerpt(address)}: no scheduler answers there"
                                  f" ({type(exc).__name__}: {exc})") from None


def close(client: object) -> None:
    """Close the executor of ``--dask``, if it has one."""
    closer = getattr(client, "close", None)
    if closer is not None:
        closer()
