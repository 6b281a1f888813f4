"""Reproducible randomness keyed by stable names: the basis of paired what-ifs."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pandas.testing as pdt

import simbatch
from simbatch.engine.randomness import Blocks, generator, stream_key
from tests.conftest import SCENARIOS

KEY = ["job", "run", "task", "attempt"]


def affinity() -> dict[str, object]:
    return copy.deepcopy(dict(simbatch.load(SCENARIOS / "affinity.yaml").document))


def test_same_seed_same_tables_other_seed_other_tables() -> None:
    a = simbatch.simulate(affinity(), seed=7)
    b = simbatch.simulate(affinity(), seed=7)
    pdt.assert_frame_equal(a.tasks, b.tasks)
    pdt.assert_frame_equal(a.jobs, b.jobs)
    c = simbatch.simulate(affinity(), seed=8)
    assert not a.tasks.equals(c.tasks)


def test_adding_a_server_leaves_sampled_work_unchanged() -> None:
    base = simbatch.simulate(affinity(), seed=1)
    doc = affinity()
    doc["servers"]["AOS4"] = {"threads": 4}
    doc["groups"]["BG1"]["servers"].append("AOS4")
    bigger = simbatch.simulate(doc, seed=1)
    # the schedule changed ...
    assert not base.tasks.start.equals(bigger.tasks.start)
    assert "AOS4" in set(bigger.tasks.server.dropna())
    # ... but every attempt that finished in both runs took the same time and had the same
    # outcome: durations and failures are a function of (seed, job, run, task, attempt)
    done = ["Ended", "Error"]
    left = base.tasks[base.tasks.status.isin(done)].set_index(KEY)
    right = bigger.tasks[bigger.tasks.status.isin(done)].set_index(KEY)
    both = left.index.intersection(right.index)
    assert len(both) > 500
    pdt.assert_series_equal(left.loc[both, "duration"], right.loc[both, "duration"])
    pdt.assert_series_equal(left.loc[both, "status"], right.loc[both, "status"])
    # and the arrivals are the same
    pdt.assert_series_equal(base.jobs.set_index(["job", "run"]).scheduled,
                            bigger.jobs.set_index(["job", "run"]).scheduled.loc[
                                base.jobs.set_index(["job", "run"]).index])


def test_stream_keys_are_stable_across_interpreters() -> None:
    # BLAKE2b of the names, not Python's salted hash(): fixed for all time
    assert stream_key("duration", "JOB 1", "TASK 1", "1") == stream_key(
        "duration", "JOB 1", "TASK 1", "1")
    assert stream_key("a", "bc") != stream_key("ab", "c")
    value = generator(0, "duration", "JOB 1", "TASK 1", "1").random()
    assert value == generator(0, "duration", "JOB 1", "TASK 1", "1").random()


def test_blocks_give_the_same_value_whatever_order_they_are_asked_in() -> None:
    def draw(rng, n):  # type: ignore[no-untyped-def]
        return rng.random(n)

    def make() -> np.random.Generator:
        return generator(5, "x")

    forward = Blocks(make, draw)
    values = [forward.get(i) for i in range(50_000)]
    backward = Blocks(make, draw)
    assert [backward.get(i) for i in reversed(range(50_000))][::-1] == values
    assert pd.Series(values).between(0, 1).all()
    # only the last blocks are held; a read further back draws the stream again
    sparse = Blocks(make, draw)
    picks = [49_999, 3, 20_000, 0, 49_998, 17, 30_000]
    assert [sparse.get(i) for i in picks] == [values[i] for i in picks]
    held = [b for b in sparse._blocks if b is not None]
    assert len(held) <= Blocks.KEEP and sum(b.size for b in held) <= Blocks.KEEP * 4096
