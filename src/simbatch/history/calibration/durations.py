"""Task durations: a distribution fitted to the observed durations, with its evidence.

Constant, empirical, or the best of lognormal, gamma, Weibull and exponential by AIC when
its Kolmogorov-Smirnov statistic says it fits (docs/how-to/history-and-calibration.md states the
rule).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simbatch.engine.randomness import generator
from simbatch.history.calibration.document import (
    clock_text,
    flow_list,
    flow_map,
    scenario_time,
    thousands,
)

__all__ = ["CONSTANT_SPREAD", "FEW", "FIT_SAMPLE", "KS_FITS", "QUANTILES", "fit_duration"]

FEW = 20
"""Fewer samples than this are written as ``empirical`` (the values seen), not fitted."""
KS_FITS = 0.05
"""A fit is used when its Kolmogorov-Smirnov statistic is at most this, or at most the 5%
critical value 1.36 / sqrt(n) where that is larger (small samples); else empirical."""
FIT_SAMPLE = 5000
"""At most this many durations (a seeded random subset) are used to fit and test."""
QUANTILES = 100
"""An empirical distribution of more than this many values is written as this many quantiles."""
CONSTANT_SPREAD = 2.0
"""Durations within this many seconds of each other (F&O keeps whole seconds) are constant."""


_CANDIDATES = {"lognormal": "lognorm", "gamma": "gamma", "weibull": "weibull_min",
               "exponential": "expon"}
"""The candidate families, by their scipy.stats names (scipy loads when a fit needs it)."""


def fit_duration(seconds: np.ndarray, key: str = "") -> tuple[Any, str]:
    """A time for the scenario and its evidence comment, from observed durations in seconds.

    Constant when they lie within ``CONSTANT_SPREAD``; ``empirical`` below ``FEW`` samples or
    when no candidate's KS statistic is within ``KS_FITS``; else the candidate (lognormal,
    gamma, Weibull, exponential, each with location 0) with the lowest AIC.
    """
    x = np.sort(np.asarray(seconds, dtype=float))
    n = len(x)
    if n == 0:
        return "1m", "never ran to an end in the history: 1m is a placeholder"
    median, p95 = float(np.median(x)), float(np.percentile(x, 95))
    seen = f"{thousands(n)} runs, median {clock_text(median)}, p95 {clock_text(p95)}"
    if x[-1] - x[0] <= CONSTANT_SPREAD:
        return scenario_time(median), f"{seen}; all within {CONSTANT_SPREAD:g}s: constant"
    if n < FEW:
        return {"empirical": flow_list([scenario_time(v) for v in x])}, (
            f"{seen}; fewer than {FEW} runs: empirical")
    sample = x
    if n > FIT_SAMPLE:
        sample = np.sort(generator(0, "calibrate", key).choice(x, FIT_SAMPLE, replace=False))
    positive = np.maximum(sample, 0.5)  # F&O keeps whole seconds: 0 means under a second
    from scipy import stats

    fits = []
    for name, family in _CANDIDATES.items():
        dist = getattr(stats, family)
        with np.errstate(all="ignore"):
            params = _fit(name, positive)
            loglik = float(np.sum(dist.logpdf(positive, *params)))
        k = 1 if name == "exponential" else 2
        if not math.isfinite(loglik):
            continue
        ks = _ks(positive, dist.cdf(positive, *params))
        fits.append((2 * k - 2 * loglik, name, params, ks))
    fits.sort(key=lambda f: f[0])
    aic, name, params, ks = fits[0]
    others = ", ".join(f[1] for f in fits[1:])
    limit = max(KS_FITS, 1.36 / math.sqrt(len(sample)))
    if ks > limit:
        return _empirical(x), (f"{seen}; best fit {name} (by AIC) has KS {ks:.2f} >"
                               f" {limit:.2f}: empirical")
    subset = f" (fitted on {thousands(FIT_SAMPLE)} of them)" if n > FIT_SAMPLE else ""
    return _written(name, params), (f"{seen}; {name}, KS {ks:.2f}; AIC {aic:,.0f}, lowest"
                                    f" of {name}, {others}{subset}")


def _fit(name: str, x: np.ndarray) -> tuple[float, ...]:
    """Maximum-likelihood parameters with location 0, in scipy's order (shape, loc, scale)."""
    if name == "exponential":
        return (0.0, float(x.mean()))
    logs = np.log(x)
    if name == "lognormal":
        return (float(logs.std()), 0.0, float(np.exp(logs.mean())))
    if name == "gamma":  # Minka's start, then Newton steps on log(a) - digamma(a) = s
        from scipy.special import digamma, polygamma

        gap = math.log(x.mean()) - float(logs.mean())
        a = (3 - gap + math.sqrt((gap - 3) ** 2 + 24 * gap)) / (12 * gap) if gap > 0 else 1e6
        for _ in range(20):
            step = (math.log(a) - float(digamma(a)) - gap) / (1 / a - float(polygamma(1, a)))
            a = max(a - step, a / 10)
            if abs(step) < 1e-10 * a:
                break
        return (a, 0.0, float(x.mean()) / a)
    # weibull: the shape k solves sum(x^k ln x) / sum(x^k) - 1/k = mean(ln x)
    from scipy.optimize import brentq

    unit = float(x.mean())
    y = x / unit
    logy = np.log(y)

    def score(k: float) -> float:
        w = y ** k
        return float((w * logy).sum() / w.sum() - 1 / k - logy.mean())

    low, high = 0.02, 50.0
    if score(low) > 0 or score(high) < 0:
        return (1.0, 0.0, unit)
    k = float(brentq(score, low, high, xtol=1e-8))
    return (k, 0.0, unit * float(np.mean(y ** k)) ** (1 / k))


def _ks(sorted_x: np.ndarray, cdf: np.ndarray) -> float:
    """The Kolmogorov-Smirnov statistic of a sorted sample against its fitted CDF values."""
    n = len(sorted_x)
    upper = np.arange(1, n + 1) / n - cdf
    lower = cdf - np.arange(n) / n
    return float(max(upper.max(), lower.max()))


def _empirical(x: np.ndarray) -> dict[str, Any]:
    if len(x) > QUANTILES:
        x = np.quantile(x, (np.arange(QUANTILES) + 0.5) / QUANTILES)
    return {"empirical": flow_list([scenario_time(v) for v in x])}


def _written(name: str, params: tuple[float, ...]) -> Any:
    if name == "exponential":
        return flow_map({"exponential": scenario_time(params[1])})
    if name == "weibull":
        shape, _, scale = params
        return flow_map({"weibull": {"shape": round(float(shape), 3),
                                     "scale": scenario_time(scale)}})
    if name == "lognormal":
        s, _, scale = params
        mean = scale * math.exp(s * s / 2)
        sd = mean * math.sqrt(math.expm1(s * s))
    else:
        a, _, scale = params
        mean, sd = a * scale, math.sqrt(a) * scale
    return flow_map({name: {"mean": scenario_time(mean), "sd": scenario_time(sd)}})
