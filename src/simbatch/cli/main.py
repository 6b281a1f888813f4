"""The ``simbatch`` command line; it only calls the public API.

``build_parser`` assembles every command from the module of its family (``simulate``: run
and validate; ``experiments``: compare, sweep and report; ``history``: calibrate and
backtest; ``plan``); ``main`` runs one and turns its errors into ``Type: message`` and an
exit code.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import cast

import simbatch
from simbatch.cli import experiments, history, plan, simulate
from simbatch.cli.options import Commands, Parser, bounded

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The complete ``simbatch`` parser, with every subcommand (the CLI reference's source)."""
    parser = Parser(prog="simbatch", description=(
        "Capacity planning for the Dynamics 365 F&O batch framework."),
        epilog="example:\n  simbatch run scenarios/walkthrough.yaml --out out\n\n"
        "simbatch COMMAND --help shows the options of each command, with an example.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=simbatch.__version__)
    # every subcommand's parser is a Parser too (argparse makes them of the top's class)
    commands = cast(Commands, parser.add_subparsers(dest="command", required=True,
                                                    metavar="COMMAND"))
    simulate.add_commands(commands)
    experiments.add_commands(commands)
    history.add_commands(commands)
    plan.add_commands(commands)
    return parser


class _TerminatedError(Exception):
    """SIGTERM arrived: stop like Ctrl-C, with the conventional exit code 143."""


def _terminate(signum: int, frame: object) -> None:
    raise _TerminatedError


def _message(exc: Exception) -> str:
    """An error's message, quoted values in bounded excerpts (a system error's file names
    too): every message the command line prints is bounded here, whichever module raised
    it."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [n for n in (exc.filename, exc.filename2) if n is not None]
        quoted = " -> ".join(simbatch.errors.excerpt(str(n)) for n in names)
        return f"[Errno {exc.errno}] {exc.strerror}" + (f": {quoted}" if quoted else "")
    return bounded(str(exc))


_INTERRUPTED = "interrupted: stopped; finished outputs and stored replications are kept"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 fine, 2 bad input, 130 interrupted).

    A bad argument exits (``SystemExit``) with code 2 and the command's usage, as argparse
    does. Ctrl-C at any point (while the arguments are read too) stops with one line.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print(f"\n{_INTERRUPTED}", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    args, stray = build_parser().parse_known_args(argv)
    if stray:  # refused with the command's usage, not the top level's
        args.parser.error("unrecognized arguments:"
                          f" {simbatch.errors.excerpt(' '.join(stray), quoted=False)}")
    handler: Callable[[argparse.Namespace], int] = args.handler
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", simbatch.SimbatchWarning)
        try:
            code = handler(args)
        except BrokenPipeError:  # the reader (say, `head`) closed early: not an error
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
            code = 0
        except (simbatch.SimbatchError, OSError) as exc:
            print(f"{type(exc).__name__}: {_message(exc)}", file=sys.stderr)
            code = 2
        except KeyboardInterrupt:
            print(f"\n{_INTERRUPTED}", file=sys.stderr)
            code = 130
        except _TerminatedError:
            print("terminated: stopped; finished outputs and stored replications are kept",
                  file=sys.stderr)
            code = 143
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    for warning in caught:
        print(f"{warning.category.__name__}: {warning.message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
