"""The experiment intervals against independent references: statsmodels and scipy.

``experiments.intervals`` computes its Wilson scores, Newcombe differences and t intervals
itself; here each is recomputed by a library that does not share its code:

- ``wilson`` against ``statsmodels.stats.proportion.proportion_confint(method="wilson")``;
- ``paired_share_difference`` against ``confint_proportions_2indep(method="newcomb")``,
  Newcombe's hybrid score interval (his method 10) for two independent proportions. That
  reference applies exactly when the correlation term is 0 (one replication, or a variant
  whose per-replication shares do not vary). For correlated replications no library
  computes this MOVER interval with a correlation of per-replication shares, so the tests
  check what can be checked: the same Wilson limits (statsmodels) combined by Zou and
  Donner's formula, identical variants give a narrow interval around 0, and correlation
  narrows the interval;
- ``t_interval`` and ``summarize`` against ``scipy.stats.ttest_1samp(...).confidence_interval``.

Library answers and ours agree to 1e-9: both are closed forms evaluated in floating point.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from simbatch.experiments import intervals
from simbatch.experiments.intervals import paired_share_difference, summarize, t_interval, wilson

CONFIDENCES = (0.80, 0.90, 0.95, 0.99)
GRID = [(count, nobs) for nobs in (1, 2, 5, 14, 30, 100, 1000)
        for count in sorted({0, 1, nobs // 3, nobs // 2, nobs - 1, nobs}) if 0 <= count <= nobs]


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_wilson_agrees_with_statsmodels_over_a_grid(confidence: float) -> None:
    for count, nobs in GRID:
        ours = wilson(count, nobs, confidence)
        theirs = proportion_confint(count, nobs, alpha=1 - confidence, method="wilson")
        assert ours == pytest.approx(theirs, abs=1e-9), (count, nobs, confidence)


def test_wilson_of_no_miss_in_14_nights_is_about_21_percent() -> None:
    # the example: 14 nights without a miss cannot show a miss share below ~21%
    # (two-sided 95%; the exact Clopper-Pearson bound is 23%)
    low, high = wilson(0, 14, 0.95)
    assert low == 0.0
    assert high == pytest.approx(0.2153, abs=1e-4)
    exact = proportion_confint(0, 14, alpha=0.05, method="beta")[1]
    assert high < exact


def test_wilson_without_runs_is_undefined() -> None:
    assert all(np.isnan(wilson(0, 0, 0.95)))


def _newcombe(misses_a: np.ndarray, runs_a: np.ndarray, misses_b: np.ndarray,
              runs_b: np.ndarray, confidence: float) -> tuple[float, float]:
    low, high = confint_proportions_2indep(misses_b.sum(), runs_b.sum(), misses_a.sum(),
                                           runs_a.sum(), method="newcomb", compare="diff",
                                           alpha=1 - confidence)
    return float(low), float(high)


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_one_replication_gives_newcombes_interval_of_statsmodels(confidence: float) -> None:
    # one replication: no correlation to estimate, the two shares are combined as
    # independent, which is Newcombe's method 10 exactly
    for (ma, na), (mb, nb) in itertools.product([(0, 14), (1, 14), (3, 20), (20, 20),
                                                 (7, 100)], repeat=2):
        a_m, a_n, b_m, b_n = (np.array([float(v)]) for v in (ma, na, mb, nb))
        d, low, high = paired_share_difference(a_m, a_n, b_m, b_n, confidence)
        assert d == pytest.approx(mb / nb - ma / na)
        reference = _newcombe(a_m, a_n, b_m, b_n, confidence)
        assert (low, high) == pytest.approx(reference, abs=1e-9), (ma, na, mb, nb)


def test_a_variant_whose_shares_do_not_vary_is_combined_as_independent() -> None:
    runs = np.full(6, 7.0)
    constant = np.zeros(6)  # never a miss: its share has no variance, no correlation
    varying = np.array([0.0, 1, 2, 0, 1, 3])
    d, low, high = paired_share_difference(constant, runs, varying, runs, 0.95)
    assert (low, high) == pytest.approx(_newcombe(constant, runs, varying, runs, 0.95),
                                        abs=1e-9)
    assert low < d < high


def test_correlated_replications_follow_zou_and_donners_formula() -> None:
    # MOVER (Zou and Donner 2008; Newcombe 1998 method 10 with a correlation term): the
    # Wilson limits from statsmodels, the correlation from scipy
    rng = np.random.default_rng(21)
    runs_a = np.full(20, 7.0)
    runs_b = np.full(20, 7.0)
    misses_a = rng.binomial(7, 0.3, 20).astype(float)
    misses_b = np.minimum(7.0, misses_a + rng.binomial(1, 0.4, 20))  # positively correlated
    pa, pb = misses_a.sum() / runs_a.sum(), misses_b.sum() / runs_b.sum()
    la, ua = proportion_confint(misses_a.sum(), runs_a.sum(), alpha=0.05, method="wilson")
    lb, ub = proportion_confint(misses_b.sum(), runs_b.sum(), alpha=0.05, method="wilson")
    phi = stats.pearsonr(misses_a / runs_a, misses_b / runs_b).statistic
    assert phi > 0.5
    low = pb - pa - np.sqrt((pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2)
    high = pb - pa + np.sqrt((ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2)
    d, ours_low, ours_high = paired_share_difference(misses_a, runs_a, misses_b, runs_b, 0.95)
    assert (d, ours_low, ours_high) == pytest.approx((pb - pa, low, high), abs=1e-9)
    # the correlation is used: the paired interval is inside the independent one
    ind_low, ind_high = _newcombe(misses_a, runs_a, misses_b, runs_b, 0.95)
    assert ind_low < ours_low and ours_high < ind_high
    assert (ours_high - ours_low) < 0.8 * (ind_high - ind_low)


def test_identical_variants_give_a_narrow_interval_around_nothing() -> None:
    # correlation 1: the square-and-add leaves only the asymmetry of the Wilson interval,
    # |(p - l) - (u - p)|, on each side of 0
    runs = np.array([7.0, 7, 7, 7, 7])
    misses = np.array([0.0, 2, 1, 3, 1])
    d, low, high = paired_share_difference(misses, runs, misses, runs, 0.95)
    lo, hi = proportion_confint(7, 35, alpha=0.05, method="wilson")
    skew = abs((0.2 - lo) - (hi - 0.2))
    assert (d, low, high) == pytest.approx((0.0, -skew, skew), abs=1e-9)
    ind_low, ind_high = _newcombe(misses, runs, misses, runs, 0.95)
    assert high - low < 0.35 * (ind_high - ind_low)  # measured: 0.32


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("n", [2, 3, 5, 10, 30])
def test_t_interval_agrees_with_scipy(n: int, confidence: float) -> None:
    values = np.random.default_rng(n).lognormal(3.0, 1.0, n)
    mean, sd, low, high = t_interval(values, confidence)
    result = stats.ttest_1samp(values, 0.0)
    reference = result.confidence_interval(confidence_level=confidence)
    assert (low, high) == pytest.approx((reference.low, reference.high), rel=1e-9)
    assert mean == pytest.approx(values.mean(), rel=1e-12)
    assert sd == pytest.approx(stats.tstd(values), rel=1e-12)


def test_t_interval_of_one_value_has_no_width() -> None:
    mean, sd, low, high = t_interval(np.array([4.0]), 0.95)
    assert mean == 4.0 and np.isnan(sd) and np.isnan(low) and np.isnan(high)


def test_summarize_gives_scipy_t_intervals_and_pooled_wilson_shares() -> None:
    rng = np.random.default_rng(5)
    waits = rng.gamma(2.0, 300.0, 8)
    utilization = rng.uniform(0.90, 0.999, 8)
    misses = np.array([0, 1, 0, 0, 2, 0, 0, 1], dtype=float)
    runs = np.full(8, 7.0)
    margins = rng.normal(-100.0, 900.0, 8)
    rows = pd.DataFrame(
        [(r + 1, metric, "all", value) for metric, values in (
            ("wait_mean_s", waits), ("utilization", utilization),
            ("deadline_misses", misses), ("deadline_runs", runs),
            ("deadline_miss", misses / runs), ("margin_min_s", margins))
         for r, value in enumerate(values)],
        columns=["replication", "metric", "key", "value"])
    table = summarize(rows, ["metric", "key"], 0.95).set_index("metric")
    for metric, values in (("wait_mean_s", waits), ("margin_min_s", margins)):
        ci = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
        row = table.loc[metric]
        assert (row.ci_low, row.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert row["mean"] == pytest.approx(values.mean()) and row.n == 8
    # a share is clipped to [0, 1]: the t interval of utilization near 1 passes 1
    ci = stats.ttest_1samp(utilization, 0.0).confidence_interval(0.95)
    assert ci.high > 1.0 or table.loc["utilization"].ci_high == pytest.approx(ci.high)
    assert table.loc["utilization"].ci_high == pytest.approx(min(1.0, ci.high))
    assert table.loc["utilization"].ci_low == pytest.approx(ci.low)
    # deadline_miss: the pooled share 4/56 with statsmodels' Wilson interval, not a t
    row = table.loc["deadline_miss"]
    assert row["mean"] == pytest.approx(4 / 56)
    assert (row.ci_low, row.ci_high) == pytest.approx(
        proportion_confint(4, 56, alpha=0.05, method="wilson"), abs=1e-9)
    # all-zero misses: the Wilson upper bound of 0 in 56, where a t bound would be 0
    zero = rows.assign(value=np.where(rows.metric.isin(["deadline_misses", "deadline_miss"]),
                                      0.0, rows.value))
    row = summarize(zero, ["metric", "key"], 0.95).set_index("metric").loc["deadline_miss"]
    assert row.ci_low == 0.0
    assert row.ci_high == pytest.approx(proportion_confint(0, 56, alpha=0.05,
                                                           method="wilson")[1], abs=1e-9)
    assert row.ci_high > 0.06


def test_summarize_clips_a_count_at_zero_but_not_a_difference() -> None:
    values = np.array([1.0, 0.0, 0.0, 0.0, 9.0])  # a wide interval around a small mean
    rows = pd.DataFrame({"metric": "tasks_failed", "key": "all", "value": values})
    ci = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert ci.low < 0
    plain = summarize(rows, ["metric", "key"], 0.95).iloc[0]
    assert plain.ci_low == 0.0 and plain.ci_high == pytest.approx(ci.high)
    diff = summarize(rows, ["metric", "key"], 0.95, difference=True).iloc[0]
    assert (diff.ci_low, diff.ci_high) == pytest.approx((ci.low, ci.high))


# Tests below were written against surviving mutants (mutmut, docs/explanation/statistics.md,
# "Mutation testing"); each comment names what a wrong version of the code would do.


def test_metric_ranges_of_shares_signed_metrics_counts_and_their_differences() -> None:
    # a share lies in [0, 1] and a difference of two shares in [-1, 1]; a signed metric and
    # any other difference are unbounded; a count or a time is at least 0
    assert intervals.metric_range("deadline_miss") == (0.0, 1.0)
    assert intervals.metric_range("utilization", difference=False) == (0.0, 1.0)
    assert intervals.metric_range("deadline_miss", difference=True) == (-1.0, 1.0)
    assert intervals.metric_range("margin_min_s") == (-np.inf, np.inf)
    assert intervals.metric_range("wait_mean_s") == (0.0, np.inf)
    assert intervals.metric_range("wait_mean_s", difference=True) == (-np.inf, np.inf)


@pytest.mark.parametrize("confidence", (0.90, 0.95, 0.99))
def test_wilson_bound_is_one_end_of_the_interval_at_twice_the_risk(confidence: float) -> None:
    # one-sided at `confidence`: statsmodels' two-sided interval with alpha = 2 (1 - c)
    for count, nobs in [(0, 14), (3, 20), (7, 100), (20, 20)]:
        low, high = proportion_confint(count, nobs, alpha=2 * (1 - confidence),
                                       method="wilson")
        upper = intervals.wilson_bound(count, nobs, confidence, upper=True)
        lower = intervals.wilson_bound(count, nobs, confidence, upper=False)
        assert (lower, upper) == pytest.approx((low, high), abs=1e-9), (count, nobs)
    assert intervals.wilson_bound(3, 20, confidence, upper=True) > 0.15 > intervals.wilson_bound(
        3, 20, confidence, upper=False)


def test_t_interval_of_nothing_is_undefined_without_a_warning() -> None:
    # an empty sample has no mean: NaN, not numpy's "mean of empty slice" warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(np.isnan(t_interval(np.array([]), 0.95)))


def test_a_paired_difference_needs_judged_runs_in_both_variants() -> None:
    none, one = np.array([0.0, 0.0]), np.array([1.0, 0.0])
    misses = np.array([0.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for runs_a, runs_b in [(none, one), (one, none), (none, none)]:
            assert all(np.isnan(paired_share_difference(misses, runs_a, misses, runs_b, 0.95)))
    # a single judged run in each variant is enough: Newcombe's interval of 1/1 against 0/1
    d, low, high = paired_share_difference(np.array([1.0, 0.0]), one, misses, one, 0.95)
    reference = _newcombe(np.array([1.0]), np.array([1.0]), np.array([0.0]), np.array([1.0]),
                          0.95)
    assert d == -1.0 and (low, high) == pytest.approx(reference, abs=1e-9)


def _mover(misses_a: np.ndarray, runs_a: np.ndarray, misses_b: np.ndarray, runs_b: np.ndarray,
           phi: float) -> tuple[float, float, float]:
    """Zou and Donner's interval of share b - share a, Wilson limits from statsmodels."""
    pa, pb = misses_a.sum() / runs_a.sum(), misses_b.sum() / runs_b.sum()
    la, ua = proportion_confint(misses_a.sum(), runs_a.sum(), alpha=0.05, method="wilson")
    lb, ub = proportion_confint(misses_b.sum(), runs_b.sum(), alpha=0.05, method="wilson")
    low = pb - pa - np.sqrt((pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2)
    high = pb - pa + np.sqrt((ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2)
    return pb - pa, low, high


def test_the_correlation_uses_shares_of_replications_judged_in_both_variants() -> None:
    # replications where one variant judged no run are left out of the correlation (their
    # share is undefined), but their counts still count; the correlation is of shares
    # (misses / runs), so replications with 1 and with 7 runs weigh as shares
    runs_a = np.array([7.0, 7, 0, 1, 7, 1, 7, 3])
    runs_b = np.array([7.0, 0, 7, 1, 7, 1, 7, 3])
    misses_a = np.array([1.0, 2, 0, 1, 3, 0, 0, 2])
    misses_b = np.array([2.0, 0, 4, 1, 3, 0, 1, 3])
    both = (runs_a > 0) & (runs_b > 0)
    phi = stats.pearsonr(misses_a[both] / runs_a[both], misses_b[both] / runs_b[both]).statistic
    ours = paired_share_difference(misses_a, runs_a, misses_b, runs_b, 0.95)
    assert ours == pytest.approx(_mover(misses_a, runs_a, misses_b, runs_b, phi), abs=1e-9)
    assert all(np.isfinite(ours))


def test_two_replications_are_enough_for_a_correlation() -> None:
    runs = np.array([7.0, 7.0])
    misses_a, misses_b = np.array([1.0, 3.0]), np.array([2.0, 5.0])  # correlation 1
    ours = paired_share_difference(misses_a, runs, misses_b, runs, 0.95)
    assert ours == pytest.approx(_mover(misses_a, runs, misses_b, runs, 1.0), abs=1e-9)
    _, ind_low, ind_high = _mover(misses_a, runs, misses_b, runs, 0.0)
    assert ours[2] - ours[1] < 0.5 * (ind_high - ind_low)


def test_a_second_variant_whose_shares_do_not_vary_is_combined_as_independent() -> None:
    # the mirror of the test above it: the constant variant is b, not a
    runs = np.full(6, 7.0)
    constant = np.zeros(6)
    varying = np.array([0.0, 1, 2, 0, 1, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, low, high = paired_share_difference(varying, runs, constant, runs, 0.95)
    assert (low, high) == pytest.approx(_newcombe(varying, runs, constant, runs, 0.95),
                                        abs=1e-9)


def _rows(**columns: list[float]) -> pd.DataFrame:
    return pd.DataFrame([(r + 1, metric, "all", value) for metric, values in columns.items()
                         for r, value in enumerate(values)],
                        columns=["replication", "metric", "key", "value"])


def test_summarize_keeps_the_order_of_first_appearance_and_names_its_columns() -> None:
    values = [3.0, 5.0, 10.0]
    rows = _rows(wait_mean_s=values, tasks_failed=[1.0, 0.0, 2.0], margin_min_s=values)
    table = summarize(rows, ["metric", "key"], 0.95)
    assert list(table.columns) == ["metric", "key", "n", "mean", "sd", "ci_low", "ci_high"]
    assert list(table.metric) == ["wait_mean_s", "tasks_failed", "margin_min_s"]
    assert table.set_index("metric").loc["wait_mean_s", "sd"] == pytest.approx(
        stats.tstd(values))


def test_summarize_clips_a_share_at_one() -> None:
    # utilization near 1 with a spread: its t interval passes 1, the summary stops at 1
    values = np.array([0.999, 0.90, 0.995, 0.998])
    ci = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert ci.high > 1.0
    row = summarize(_rows(utilization=list(values)), ["metric", "key"], 0.95).iloc[0]
    assert row.ci_high == 1.0 and row.ci_low == pytest.approx(ci.low)
    diff = summarize(_rows(utilization=[0.9, 0.1, 0.95]), ["metric", "key"], 0.95,
                     difference=True).iloc[0]
    assert diff.ci_high == 1.0 and diff.ci_low > -1.0


def test_summarize_of_one_judged_run_gives_its_wilson_interval() -> None:
    rows = _rows(deadline_misses=[1.0], deadline_runs=[1.0], deadline_miss=[1.0])
    row = summarize(rows, ["metric", "key"], 0.95).set_index("metric").loc["deadline_miss"]
    assert row["mean"] == 1.0
    assert (row.ci_low, row.ci_high) == pytest.approx(wilson(1, 1, 0.95))
    assert row.ci_low == pytest.approx(proportion_confint(1, 1, alpha=0.05,
                                                          method="wilson")[0], abs=1e-9)


def test_summarize_of_shares_without_counts_falls_back_to_a_t_interval() -> None:
    # rows with deadline_miss but no counts (or no judged run at all): no pooled share,
    # the t interval of the per-replication shares, and no warning of a division by zero
    shares = [0.0, 0.25, 0.5]
    ci = stats.ttest_1samp(shares, 0.0).confidence_interval(0.95)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = summarize(_rows(deadline_miss=shares), ["metric", "key"], 0.95).iloc[0]
        assert row["mean"] == pytest.approx(0.25)
        assert (row.ci_low, row.ci_high) == pytest.approx((0.0, ci.high))
        unjudged = _rows(deadline_misses=[0.0, 0.0], deadline_runs=[0.0, 0.0],
                         deadline_miss=[np.nan, np.nan])
        row = summarize(unjudged, ["metric", "key"], 0.95).set_index("metric").loc[
            "deadline_miss"]
        assert row.n == 0 and np.isnan(row["mean"]) and np.isnan(row.ci_high)
    # runs counted but misses not: the share is unknown, not 0
    row = summarize(_rows(deadline_runs=[7.0, 7.0], deadline_miss=[0.0, 0.0]),
                    ["metric", "key"], 0.95).set_index("metric").loc["deadline_miss"]
    assert np.isnan(row["mean"])
