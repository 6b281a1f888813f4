"""What several commands share: the help layout, the common options and their checks.

Every argument is bounded before anything runs (see "Inputs and arguments" in
docs/explanation/validation-and-limits.md): numbers by ``whole`` and ``fraction``, with
the range in the message; texts by ``text``, in length and, for YAML flow values, in
nesting; and argparse's own messages quote at most ``simbatch.errors.EXCERPT``
characters of a bad argument (``Parser``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeAlias

import simbatch
from simbatch.cli.cluster import connect

excerpt = simbatch.errors.excerpt

__all__ = [
    "MAX_ATTEMPTS_OPTION",
    "MAX_FLOW_DEPTH",
    "MAX_REPLICATIONS",
    "MAX_RUNS",
    "MAX_SEED",
    "MAX_TEXT",
    "Commands",
    "HelpFormatter",
    "Parser",
    "add_command",
    "add_dask",
    "add_max_attempts",
    "add_seed",
    "bounded",
    "check_output_option",
    "close",
    "executor",
    "fraction",
    "names",
    "text",
    "whole",
]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

MAX_REPLICATIONS = 10_000
"""The most replications ``-n`` (and ``--max-replications``) may ask for."""
MAX_SEED = 2**32 - 1
"""The largest ``--seed``."""
MAX_ATTEMPTS_OPTION = 1_000_000_000
"""The largest ``--max-attempts``: about 440 GB of task rows, beyond any machine."""
MAX_RUNS = 10_000_000
"""The largest ``--budget`` of a plan, in simulation runs."""
MAX_TEXT = 10_000
"""The longest text argument (a path into a scenario, a grid, a target, a time)."""
MAX_FLOW_DEPTH = 16
"""The deepest nesting of brackets and braces in a ``--grid`` value."""


_LONG = 4 * simbatch.errors.EXCERPT
_LONG_QUOTE = re.compile(f"'([^'\n]{{{_LONG},}})'|\"([^\"\n]{{{_LONG},}})\"")
"""A quoted text too long to be prose between two quotes of a message: a value to cut."""


def bounded(message: str) -> str:
    """``message`` with every quoted text longer than four excerpts cut to an excerpt: the
    command line's backstop for messages of the library and of argparse (which quote their
    values in excerpts already; a shorter span between two quotes may be the message's own
    words between two values)."""
    return _LONG_QUOTE.sub(lambda m: excerpt(m.group(1) or m.group(2)), message)


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose messages quote a bad argument in a bounded excerpt."""

    def error(self, message: str) -> NoReturn:
        """Print the usage and the message (exit code 2), long arguments cut short."""
        message = bounded(message)
        if len(message) > 4 * simbatch.errors.EXCERPT:
            message = excerpt(message, 4 * simbatch.errors.EXCERPT, quoted=False)
        super().error(message)


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``, else a message that
    gives the range (and never converts a number of thousands of digits)."""
    def parse(written: str) -> int:
        digits = written.strip().replace("_", "")
        if not re.fullmatch(r"[+-]?[0-9]+", digits, re.ASCII):
            raise argparse.ArgumentTypeError(f"{excerpt(written)} is not a whole number; give"
                                             f" one from {low:,} to {high:,}")
        if len(digits.lstrip("+-").lstrip("0")) > len(str(high)) + 1:
            number = high + 1 if not digits.startswith("-") else low - 1
        else:
            number = int(digits)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{excerpt(written)} is out of range; give a"
                                             f" whole number from {low:,} to {high:,}")
        return number

    parse.__name__ = "whole number"
    return parse


def fraction(low: float, high: float, *, high_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in [low, high] (or [low, high))."""
    def parse(written: str) -> float:
        try:
            number = float(written) if len(written) <= 40 else float("nan")
        except ValueError:
            number = float("nan")
        inside = low <= number < high if high_open else low <= number <= high
        if not inside:  # NaN too
            end = ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"{excerpt(written)} is not a number in"
                                             f" [{low:g}, {high:g}{end}")
        return number

    parse.__name__ = "number"
    return parse


def text(option: str, *, flow: bool = False) -> Callable[[str], str]:
    """An argparse ``type``: a text of at most ``MAX_TEXT`` characters; with ``flow``, YAML
    flow values (``--grid``) nested at most ``MAX_FLOW_DEPTH`` deep, checked before the
    YAML reader (which recurses) sees them."""
    def parse(written: str) -> str:
        if len(written) > MAX_TEXT:
            raise argparse.ArgumentTypeError(f"{excerpt(written)} is {len(written):,}"
                                             f" characters long; {option} takes at most"
                                             f" {MAX_TEXT:,}")
        if "\0" in written:
            raise argparse.ArgumentTypeError(f"{excerpt(written)} holds a NUL character")
        if flow and _flow_depth(written) > MAX_FLOW_DEPTH:
            raise argparse.ArgumentTypeError(f"{excerpt(written)} nests brackets or braces"
                                             f" more than {MAX_FLOW_DEPTH} deep")
        return written

    parse.__name__ = "text"
    return parse


def _flow_depth(written: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in a YAML flow text (quoted text skipped)."""
    depth = deepest = 0
    quote = ""
    for char in written:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def add_seed(command: argparse.ArgumentParser, help_text: str = "random seed") -> None:
    """The ``--seed`` option, from 0 to ``MAX_SEED``."""
    command.add_argument("--seed", type=whole(0, MAX_SEED), default=0, metavar="N",
                         help=f"{help_text}, 0 to {MAX_SEED:,} (default: %(default)s)")


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
    command.add_argument("--max-attempts", type=whole(1, MAX_ATTEMPTS_OPTION), metavar="N",
                         default=None,
                         help="refuse a run expected to simulate more task attempts than N"
                         f" (default: {simbatch.MAX_ATTEMPTS:,}, about"
                         f" {simbatch.MAX_ATTEMPTS * simbatch.BYTES_PER_ATTEMPT / 1e9:.1f} GB;"
                         f" at most {MAX_ATTEMPTS_OPTION:,})")


def add_dask(command: argparse.ArgumentParser) -> None:
    """The ``--dask ADDRESS`` option of the commands that fan runs out."""
    command.add_argument("--dask", metavar="ADDRESS", type=text("--dask"),
                         help="run on a dask.distributed scheduler at ADDRESS (default: local"
                         " processes)")


def check_output_option(path: Path | None, option: str, what: str = "file") -> None:
    """Refuse a file option (``--out``, ``--report``, …) before anything runs: a folder,
    or any path an output may not replace or create (``simbatch.check_output``)."""
    if path is None:
        return
    if path.is_dir():
        raise simbatch.UsageError(f"--{option} {path}: is a folder; name the {what}")
    try:
        simbatch.check_output(path)
    except simbatch.UsageError as exc:
        raise simbatch.UsageError(f"--{option} {exc}") from None


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
    return connect(address.strip(), name="--dask")


def close(client: object) -> None:
    """Close the executor of ``--dask``, if it has one."""
    closer = getattr(client, "close", None)
    if closer is not None:
        closer()
