"""Reproducible randomness keyed by stable names.

Every source of randomness (a task's durations, its failures, a job's arrivals, a server's
poll phase) has its own numpy Generator, spawned from the run's seed with a key derived
from the source's names by BLAKE2b, never from Python's ``hash()``. A task's n-th value
is the n-th draw of its own stream, so what is sampled for (seed, job, run, task, attempt)
never depends on the order in which the simulation asks for it: changing the topology
leaves the sampled workload alone (common random numbers).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Callable

import numpy as np

__all__ = ["Blocks", "generator", "stream_key"]


def stream_key(*names: str) -> tuple[int, ...]:
    """A stable spawn key for the stream named by ``names``."""
    digest = hashlib.blake2b("\x1f".join(names).encode("utf-8"), digest_size=16).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))


def generator(seed: int, *names: str) -> np.random.Generator:
    """The Generator of the stream ``names`` under ``seed``."""
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=stream_key(*names))
    return np.random.Generator(np.random.PCG64(sequence))


class Blocks:
    """The values of one stream by index (0, 1, 2, …), drawn lazily in growing blocks.

    The block sizes are fixed (16, 32, … up to 4096), so the value at an index is the same
    whichever index is asked for first. Only the last ``KEEP`` blocks drawn are held: a
    stream read by run number (a retry's durations, say) is read sparsely and nearly in
    order, and holding all of it would cost 8 bytes per run of the job per stream. A
    read further back draws the stream again from its start (``make`` gives a fresh
    generator), which gives the same values.
    """

    KEEP = 4

    __slots__ = ("_block", "_blocks", "_draw", "_first", "_last", "_make", "_rng", "_starts")

    def __init__(self, make: Callable[[], np.random.Generator],
                 draw: Callable[[np.random.Generator, int], np.ndarray]) -> None:
        self._make = make
        self._rng = make()
        self._draw = draw
        self._blocks: list[np.ndarray | None] = []
        self._starts: list[int] = [0]
        self._block: np.ndarray = np.zeros(0)  # the block last read, for sequential reads
        self._first = self._last = 0

    @staticmethod
    def _size(block: int) -> int:
        return min(16 << block, 4096)

    def get(self, index: int) -> int | float | bool:
        """The value at ``index`` as a Python scalar."""
        if self._first <= index < self._last:
            value: int | float | bool = self._block.item(index - self._first)
            return value
        blocks, starts = self._blocks, self._starts
        while index >= starts[-1]:
            size = self._size(len(blocks))
            blocks.append(self._draw(self._rng, size))
            starts.append(starts[-1] + size)
            if len(blocks) > self.KEEP:
                blocks[-self.KEEP - 1] = None
        b = bisect_right(starts, index) - 1
        block = blocks[b]
        if block is None:
            block = self._again(b)
        self._block, self._first, self._last = block, starts[b], starts[b + 1]
        return self.get(index)

    def _again(self, wanted: int) -> np.ndarray:
        """Block ``wanted``, drawn again from the stream's start (it was let go)."""
        rng = self._make()
        for b in range(wanted):
            self._draw(rng, self._size(b))
        return self._draw(rng, self._size(wanted))
