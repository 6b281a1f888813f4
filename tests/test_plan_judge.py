"""The plan's judge (``planning.judge.Judge``) on replication rows made by hand.

A candidate is met only when the one-sided bound at the plan's confidence is within the
target: a t bound over the replications for a mean, a Wilson bound on the runs pooled over
the replications for a share of runs. Each bound is checked against an independent reference
(scipy's t distribution, statsmodels' ``proportion_confint``), and every verdict (met, failed,
close) and the gap are checked on cases whose arithmetic is done here. These tests are the
mutation-test selection for the judge (docs/explanation/statistics.md).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from simbatch.planning.judge import Judge
from simbatch.planning.targets import parse_target

CONFIDENCE = 0.95


def rows(metric: str, key: str, values: list[float]) -> list[pd.DataFrame]:
    """One frame per replication holding ``metric`` for ``key``, as ``replicate`` gives it."""
    return [pd.DataFrame({"replication": [r], "metric": [metric], "key": [key],
                          "value": [v]}) for r, v in enumerate(values)]


def merged(*per_metric: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """The replications' frames of several metrics, one frame per replication."""
    return [pd.concat(list(frames), ignore_index=True) for frames in zip(*per_metric,
                                                                          strict=True)]


class FakeCandidate:
    """The part of a ``Candidate`` the judge reads and writes."""

    def __init__(self, frames: list[pd.DataFrame]) -> None:
        self._frame = pd.concat(frames, ignore_index=True)
        self.judged: dict[str, tuple[float, ...]] = {}
        self.verdicts: dict[str, str] = {}
        self.verdict = "close"

    def frame(self) -> pd.DataFrame:
        return self._frame


def judge(targets: list[str], frames: list[pd.DataFrame],
          confidence: float = CONFIDENCE) -> Any:
    """Judge a candidate with these replication rows on these targets; the candidate."""
    judge = Judge([parse_target(t) for t in targets], confidence)
    candidate = FakeCandidate(frames)
    judge.judge(candidate)
    candidate.gap = judge.gap(candidate)  # type: ignore[attr-defined]
    return candidate


def t_upper(values: list[float], confidence: float = CONFIDENCE) -> float:
    """The one-sided upper t bound of the mean, by scipy's own interval."""
    a = np.asarray(values, float)
    return float(stats.t.interval(2 * confidence - 1, len(a) - 1, loc=a.mean(),
                                  scale=stats.sem(a))[1])


def c_verdict(targets: list[str], values: list[float]) -> str:
    verdict: str = judge(targets, rows("wait_p95_s", "all", values)).verdict
    return verdict


# ---- means: the t bound ----------------------------------------------------------------------

def test_a_mean_within_the_target_whose_t_bound_is_not_is_close_not_met() -> None:
    values = [100.0, 140.0, 120.0, 160.0]  # mean 130, upper 95% t bound about 165.1
    bound = t_upper(values)
    c = judge(["wait_p95 <= 150s"], rows("wait_p95_s", "all", values))
    n, mean, low, high, judged_bound, met = c.judged["wait_p95 <= 150s"]
    assert (n, mean, met) == (4, 130.0, False)
    assert judged_bound == pytest.approx(bound, rel=1e-12)
    two = stats.t.interval(CONFIDENCE, 3, loc=130.0, scale=stats.sem(values))
    assert (low, high) == pytest.approx(two, rel=1e-12)
    assert c.verdicts["wait_p95 <= 150s"] == c.verdict == "close"
    assert c.gap == pytest.approx((bound - 150) / 150, rel=1e-12)


def test_a_mean_whose_t_bound_is_within_the_target_is_met() -> None:
    values = [100.0, 140.0, 120.0, 160.0]
    c = judge(["wait_p95 <= 166s"], rows("wait_p95_s", "all", values))
    assert c.judged["wait_p95 <= 166s"][-1] is True
    assert c.verdict == "met"
    assert c.gap == 0.0


def test_a_mean_whose_bound_on_the_other_side_is_past_the_target_failed() -> None:
    values = [100.0, 140.0, 120.0, 160.0]  # lower one-sided bound about 94.9
    lower = 2 * 130.0 - t_upper(values)
    assert c_verdict(["wait_p95 <= 94s"], values) == "failed"
    assert c_verdict([f"wait_p95 <= {math.ceil(lower)}s"], values) == "close"


def test_one_replication_decides_nothing_even_at_a_mean_far_within() -> None:
    c = judge(["wait_p95 <= 1h"], rows("wait_p95_s", "all", [5.0]))
    n, mean, low, high, bound, met = c.judged["wait_p95 <= 1h"]
    assert (n, mean, met, c.verdict) == (1, 5.0, False, "close")
    assert math.isinf(bound) and math.isinf(high) and math.isinf(low)
    assert c.gap == 0.0  # the mean is within: the gap falls back on it


def test_a_lower_target_uses_the_lower_bound() -> None:
    values = [0.80, 0.84, 0.82, 0.86]  # mean 0.83
    upper = t_upper(values)
    lower = 2 * 0.83 - upper
    target = "utilization >= 78%"
    c = judge([target], rows("utilization", "all", values))
    assert c.judged[target][4] == pytest.approx(lower, rel=1e-12)
    assert lower > 0.78
    assert c.verdict == "met"
    assert judge(["utilization >= 82%"], rows("utilization", "all", values)).verdict == "close"
    assert judge(["utilization >= 90%"], rows("utilization", "all", values)).verdict == "failed"


def test_the_bound_follows_the_confidence() -> None:
    values = [100.0, 140.0, 120.0, 160.0]
    c = judge(["wait_p95 <= 150s"], rows("wait_p95_s", "all", values), confidence=0.80)
    assert c.judged["wait_p95 <= 150s"][4] == pytest.approx(t_upper(values, 0.80), rel=1e-12)
    assert c.verdict == "met"  # 80%: the bound is about 143.3 s


def test_strict_and_loose_comparisons_differ_at_the_bound() -> None:
    values = [10.0, 10.0, 10.0]  # no spread: the bound is the mean
    assert judge(["wait_p95 <= 10s"], rows("wait_p95_s", "all", values)).verdict == "met"
    assert judge(["wait_p95 < 10s"], rows("wait_p95_s", "all", values)).verdict == "failed"


def test_missing_replications_are_left_out_not_counted_as_zero() -> None:
    frames = rows("wait_p95_s", "all", [100.0, float("nan"), 140.0])
    n, mean = judge(["wait_p95 <= 1h"], frames).judged["wait_p95 <= 1h"][:2]
    assert (n, mean) == (2, 120.0)


# ---- shares of runs: the pooled Wilson bound ------------------------------------------------

def deadline_rows(misses: list[int], runs: list[int], key: str = "Nightly") -> list[
        pd.DataFrame]:
    shares = [m / r if r else float("nan") for m, r in zip(misses, runs, strict=True)]
    return merged(rows("deadline_miss", key, shares), rows("deadline_misses", key, misses),
                  rows("deadline_runs", key, runs))


def wilson_upper(misses: int, runs: int, confidence: float = CONFIDENCE) -> float:
    return float(proportion_confint(misses, runs, alpha=2 * (1 - confidence),
                                    method="wilson")[1])


def test_no_miss_in_14_runs_is_not_met_at_5_percent() -> None:
    target = 'deadline_miss <= 5% for "Nightly"'
    c = judge([target], deadline_rows([0, 0], [7, 7]))
    n, mean, low, high, bound, met = c.judged[target]
    assert (n, mean, met) == (14, 0.0, False)
    assert bound == pytest.approx(wilson_upper(0, 14), rel=1e-9)  # about 16.2%
    assert (low, high) == pytest.approx(proportion_confint(0, 14, alpha=0.05,
                                                           method="wilson"), rel=1e-9, abs=1e-12)
    assert c.verdict == "close"


def test_no_miss_in_56_runs_is_met_at_5_percent() -> None:
    target = 'deadline_miss <= 5% for "Nightly"'
    c = judge([target], deadline_rows([0] * 8, [7] * 8))
    assert c.judged[target][4] == pytest.approx(wilson_upper(0, 56), rel=1e-9)  # about 4.6%
    assert c.verdict == "met"


def test_runs_are_pooled_not_the_replications_shares_averaged() -> None:
    # shares 1/1 and 0/9: their mean is 50%, the pooled share 10%
    target = 'deadline_miss <= 60% for "Nightly"'
    n, mean, _, _, bound, _ = judge([target], deadline_rows([1, 0], [1, 9])).judged[target]
    assert (n, mean) == (10, 0.1)
    assert bound == pytest.approx(wilson_upper(1, 10), rel=1e-9)


def test_many_misses_fail_on_the_lower_wilson_bound() -> None:
    target = 'deadline_miss <= 5% for "Nightly"'
    lower = float(proportion_confint(6, 20, alpha=0.10, method="wilson")[0])
    assert lower > 0.05
    assert judge([target], deadline_rows([3, 3], [10, 10])).verdict == "failed"


def test_a_share_with_no_run_judged_decides_nothing() -> None:
    target = 'deadline_miss <= 5% for "Nightly"'
    c = judge([target], deadline_rows([0, 0], [0, 0]))
    n, mean = c.judged[target][:2]
    assert n == 0 and math.isnan(mean)
    assert c.verdict == "close" and math.isinf(c.gap)


# ---- several targets --------------------------------------------------------------------------

def test_all_targets_met_is_met_one_failed_is_failed_else_close() -> None:
    waits = rows("wait_p95_s", "all", [10.0, 12.0, 14.0, 10.0, 12.0, 14.0, 10.0, 12.0])
    share = deadline_rows([0] * 8, [7] * 8)
    both = merged(waits, share)
    met = ["wait_p95 <= 1m", 'deadline_miss <= 5% for "Nightly"']
    assert judge(met, both).verdict == "met"
    assert judge(["wait_p95 <= 1m", 'deadline_miss <= 1% for "Nightly"'], both
                 ).verdict == "close"
    failed = judge(["wait_p95 <= 5s", 'deadline_miss <= 1% for "Nightly"'], both)
    assert failed.verdicts == {"wait_p95 <= 5s": "failed",
                               'deadline_miss <= 1% for "Nightly"': "close"}
    assert failed.verdict == "failed"


def test_the_gap_is_the_worst_relative_shortfall() -> None:
    waits = rows("wait_p95_s", "all", [10.0, 10.0, 10.0])
    util = rows("utilization", "all", [0.5, 0.5, 0.5])
    c = judge(["wait_p95 <= 8s", "utilization >= 80%"], merged(waits, util))
    assert c.gap == pytest.approx(max((10 - 8) / 8, (0.8 - 0.5) / 0.8), rel=1e-12)


def test_a_target_on_a_metric_the_runs_lack_is_a_usage_error() -> None:
    from simbatch.errors import UsageError
    with pytest.raises(UsageError, match="produce no metric 'queue_len'"):
        judge(["queue_len <= 3"], rows("wait_p95_s", "all", [1.0, 2.0]))


# ---- the edges a mutation run found ---------------------------------------------------------

def test_two_replications_give_a_t_bound_on_both_sides() -> None:
    values = [100.0, 102.0]
    c = judge(["wait_p95 <= 50s"], rows("wait_p95_s", "all", values))
    assert c.judged["wait_p95 <= 50s"][4] == pytest.approx(t_upper(values), rel=1e-12)
    assert c.verdict == "failed"  # the lower bound, about 94.7 s, is past 50 s


def test_no_value_at_all_decides_nothing_and_warns_nothing() -> None:
    frames = rows("wait_p95_s", "all", [float("nan"), float("nan")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = judge(["wait_p95 <= 1h"], frames)
    n, mean = c.judged["wait_p95 <= 1h"][:2]
    assert n == 0 and math.isnan(mean) and c.verdict == "close"


def test_a_single_run_judged_is_judged() -> None:
    target = 'deadline_miss <= 5% for "Nightly"'
    n, mean, _, _, bound, _ = judge([target], deadline_rows([0], [1])).judged[target]
    assert (n, mean) == (1, 0.0)
    assert bound == pytest.approx(wilson_upper(0, 1), rel=1e-9)


def test_a_share_bounded_from_below_fails_only_on_its_upper_bound() -> None:
    # 5 misses in 20: one-sided 95% Wilson bounds about 12% and 44%
    rows20 = deadline_rows([5], [20])
    assert judge(['deadline_miss >= 30% for "Nightly"'], rows20).verdict == "close"
    assert judge(['deadline_miss >= 50% for "Nightly"'], rows20).verdict == "failed"


def test_the_gap_to_a_target_of_zero_is_in_the_metrics_own_unit() -> None:
    c = judge(["wait_p95 <= 0s"], rows("wait_p95_s", "all", [2.0, 2.0, 2.0]))
    assert c.gap == 2.0


# ---- paired improvements between two candidates ----------------------------------------------

def paired(target: str, a: list[pd.DataFrame], b: list[pd.DataFrame],
           confidence: float | None = None) -> Any:
    """The judge's improvement from ``a`` to ``b`` on ``target`` (judging ``a`` first)."""
    t = parse_target(target)
    judge = Judge([t], CONFIDENCE)
    first = FakeCandidate(a)
    judge.judge(first)
    assert judge.columns is not None
    return judge.paired(first, FakeCandidate(b), judge.columns[0], t, confidence)


def test_a_paired_improvement_of_a_mean_is_a_paired_t_interval() -> None:
    a = [10.0, 12.0, 14.0, 16.0]
    b = [8.0, 11.0, 11.0, 13.0]  # per replication 2, 1, 3, 3 seconds better
    better = np.subtract(a, b)
    low, high = stats.t.interval(0.90, 3, loc=better.mean(), scale=stats.sem(better))
    mean, upper, lower = paired("wait_p95 <= 1h", rows("wait_p95_s", "all", a),
                                rows("wait_p95_s", "all", b))
    assert (mean, upper, lower) == pytest.approx((2.25, high, low), rel=1e-12)


def test_an_improvement_on_a_target_from_below_is_b_minus_a() -> None:
    a, b = [0.5, 0.6, 0.7], [0.6, 0.8, 0.7]
    mean, upper, lower = paired("utilization >= 50%", rows("utilization", "all", a),
                                rows("utilization", "all", b), confidence=0.99)
    better = np.subtract(b, a)
    low, high = stats.t.interval(0.98, 2, loc=better.mean(), scale=stats.sem(better))
    assert (mean, upper, lower) == pytest.approx((better.mean(), high, low), rel=1e-12)


def test_improvements_pair_only_the_replications_both_have() -> None:
    a = rows("wait_p95_s", "all", [10.0, 12.0, 14.0])
    b = rows("wait_p95_s", "all", [9.0, float("nan"), 12.0])
    assert paired("wait_p95 <= 1h", a, b)[0] == 1.5  # replications 0 and 2: 1 and 2 seconds better
    assert paired("wait_p95 <= 1h", a[:1], b[:1]) is None  # one pair decides nothing


def test_a_paired_improvement_of_a_share_is_newcombes_difference_turned_round() -> None:
    from simbatch.experiments.intervals import paired_share_difference
    target = 'deadline_miss <= 5% for "Nightly"'
    a_misses, b_misses, runs = [3, 2, 4], [1, 0, 2], [7, 7, 7]
    d, low, high = paired_share_difference(np.array(a_misses, float), np.array(runs, float),
                                           np.array(b_misses, float), np.array(runs, float),
                                           2 * CONFIDENCE - 1)
    got = paired(target, deadline_rows(a_misses, runs), deadline_rows(b_misses, runs))
    assert got == pytest.approx((-d, -low, -high), rel=1e-12)
    assert got[0] == pytest.approx(6 / 21, rel=1e-12)  # 9 misses of 21 down to 3
    assert paired(target, deadline_rows(a_misses[:1], runs[:1]),
                  deadline_rows(b_misses[:1], runs[:1])) is None
    assert paired(target, deadline_rows([0, 0], [0, 0]), deadline_rows([0, 0], [0, 0])) is None


def test_two_paired_replications_of_a_share_are_enough_and_below_turns_no_sign() -> None:
    from simbatch.experiments.intervals import paired_share_difference
    a_misses, b_misses, runs = [3, 2], [1, 0], [7, 7]
    d, low, high = paired_share_difference(np.array(a_misses, float), np.array(runs, float),
                                           np.array(b_misses, float), np.array(runs, float),
                                           2 * CONFIDENCE - 1)
    a, b = deadline_rows(a_misses, runs), deadline_rows(b_misses, runs)
    assert paired('deadline_miss <= 5% for "Nightly"', a, b) == pytest.approx(
        (-d, -low, -high), rel=1e-12)
    # a share wanted from below (odd, but writable): the improvement is b - a itself
    assert paired('deadline_miss >= 5% for "Nightly"', a, b) == pytest.approx(
        (d, high, low), rel=1e-12)
