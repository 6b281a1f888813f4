"""A progress bar over simulated time for long runs (tqdm, on a terminal only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from simbatch.scenario.timegrammar import NS

__all__ = ["DELAY_SECONDS", "simulated_time"]

DELAY_SECONDS = 2.0
"""A run shows its bar only once it has lasted this long: short runs stay quiet."""


@contextmanager
def simulated_time(horizon: int, label: str, *, show: bool | None = None,
                   delay: float = DELAY_SECONDS) -> Iterator[Callable[[int], None]]:
    """A callback for ``Model.run`` that moves a bar over the horizon, in simulated hours.

    The bar appears only on a terminal (or in a notebook; ``show=True`` forces it, on
    stderr, as the load benchmark does) and only after ``delay`` seconds; it is closed
    however the run ends, Ctrl-C included.
    """
    from tqdm.auto import tqdm  # loaded by runs that show progress, not by ``import simbatch``

    hours = horizon / NS / 3600
    bar = tqdm(total=round(hours, 1), desc=label, unit="h", delay=delay,
               disable=None if show is None else not show,
               leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f}"
               " simulated h [{elapsed}<{remaining}]")
    done = 0.0

    def advance(now: int) -> None:
        nonlocal done
        reached = round(now / NS / 3600, 1)
        if reached > done:
            bar.update(reached - done)
            done = reached

    try:
        yield advance
    finally:
        bar.close()
