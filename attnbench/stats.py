"""Statistics over plain numbers: summaries of timing samples, paired ratios with a distribution-free confidence
interval for their median, Welch's and paired t-tests, Holm's correction and exact McNemar.

The distributions come from ``scipy.stats`` (imported when a test is computed, so importing attnbench stays light).
The median interval's ranks are computed here, in exact integer arithmetic: they decide how many timing rounds are
enough, and an exact ``Binomial(n, 1/2)`` tail is a dozen lines where a floating-point one could put a boundary
rank one off."""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

CONFIDENCE = 0.95
"""Confidence level of every interval attnbench reports."""


@dataclass(frozen=True)
class Summary:
    """Order statistics of a sample, in the unit of the input."""

    median: float
    iqr: float
    mean: float
    stdev: float
    min: float
    max: float
    n: int
    outliers: int
    """Samples outside [Q1 − 1.5·IQR, Q3 + 1.5·IQR]."""


def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """Q1, median and Q3 with linear interpolation (NumPy's default method)."""
    if not samples:
        raise ValueError("quartiles of an empty sample")
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, median, q3


def summarize(samples: Sequence[float]) -> Summary:
    """Median, IQR, mean, standard deviation, extremes and the 1.5·IQR outlier count of ``samples``."""
    q1, med, q3 = quartiles(samples)
    iqr = q3 - q1
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    return Summary(
        median=med,
        iqr=iqr,
        mean=statistics.fmean(samples),
        stdev=statistics.stdev(samples) if len(samples) > 1 else 0.0,
        min=min(samples),
        max=max(samples),
        n=len(samples),
        outliers=sum(1 for s in samples if s < lo or s > hi),
    )


# Paired ratios and a distribution-free confidence interval for their median


@functools.lru_cache(maxsize=256)
def median_ci_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """0-based ranks ``(lo, hi)`` into ``n`` sorted values whose order statistics bound the median.

    The interval ``[x_(k), x_(n-k+1)]`` (1-based) covers the population median with probability
    ``1 - 2·P(B ≤ k-1)``, ``B ~ Binomial(n, 1/2)``, whatever the distribution (continuous), so the largest ``k``
    with ``2·P(B ≤ k-1) ≤ 1 - confidence`` gives the narrowest interval of at least that coverage. Computed in exact
    integer arithmetic. ``None`` when no such ``k`` exists (``n < 6`` at 95 %).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = 1 - Fraction(confidence).limit_denominator(10**9)
    # P(B ≤ j) = sum(C(n, i), i ≤ j) / 2^n, so 2·P(B ≤ j) ≤ alpha  ⇔  sum ≤ floor(alpha · 2^(n-1))
    bound = (alpha.numerator << n) // (2 * alpha.denominator)
    j, term, cum = -1, 1, 0  # j: the largest rank with P(B ≤ j) ≤ alpha / 2
    for i in range(n // 2 + 1):
        cum += term
        if cum > bound:
            break
        j = i
        term = term * (n - i) // (i + 1)
    if j < 0:
        return None
    return j, n - 1 - j


def min_pairs(confidence: float = CONFIDENCE) -> int:
    """The fewest values that have a median interval at ``confidence`` (6 at 95 %)."""
    n = 1
    while median_ci_ranks(n, confidence) is None:
        n += 1
    return n


def median_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """A distribution-free ``confidence`` interval for the median of ``values`` (``None`` for too few values)."""
    ranks = median_ci_ranks(len(values), confidence)
    if ranks is None:
        return None
    ordered = sorted(values)
    return ordered[ranks[0]], ordered[ranks[1]]


@dataclass(frozen=True)
class RatioEstimate:
    """The median of paired ratios ``a[k] / b[k]`` with its confidence interval (``None`` ends for too few pairs)."""

    median: float
    low: float | None
    high: float | None
    n: int
    confidence: float = CONFIDENCE

    @property
    def half_width(self) -> float:
        """Half the interval's width, in the ratio's unit (``inf`` without an interval)."""
        return math.inf if self.low is None or self.high is None else (self.high - self.low) / 2


def paired_ratio(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> RatioEstimate:
    """Median and confidence interval of the per-pair ratios ``a[k] / b[k]`` (pairs: same index)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired samples need equal, non-zero lengths, got {len(a)} and {len(b)}")
    ratios = [x / y for x, y in zip(a, b)]
    ci = median_ci(ratios, confidence)
    return RatioEstimate(statistics.median(ratios), *(ci or (None, None)), len(ratios), confidence)


# Welch's t-test


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` (real, > 0) degrees of freedom (``scipy.stats.t``)."""
    from scipy.stats import t as student_t

    return float(student_t.sf(t, df))


def welch_ttest(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float] | None:
    """Welch's unequal-variance t-test of mean(a) vs mean(b): (t, Welch-Satterthwaite df, two-sided p).

    ``None`` when either sample has fewer than 2 values, or both have zero variance (no spread to test against).
    """
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return None
    t = (statistics.fmean(a) - statistics.fmean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return t, df, min(1.0, 2 * student_t_sf(abs(t), df))


# Differences of means over seeds: Welch intervals, Holm's correction, minimum detectable effects, paired tests


def student_t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (``scipy.stats.t``)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    from scipy.stats import t as student_t

    return float(student_t.ppf(q, df))


@dataclass(frozen=True)
class MeanDifference:
    """``mean(a) − mean(b)`` with Welch's interval and test, and the smallest difference the design could detect.

    Units are those of the inputs. ``low``/``high``/``p``/``mde`` are ``None`` with fewer than 2 values on a side
    or no spread at all.
    """

    delta: float
    se: float | None
    df: float | None
    low: float | None
    high: float | None
    p: float | None
    mde: float | None
    """Minimum detectable effect: ``(t_{1−α/2, df} + t_{power, df}) · se``, the true difference a two-sided Welch
    test at level α would find with probability ``power`` (the usual normal-approximation form, with t quantiles)."""
    n_a: int
    n_b: int


def _welch_parts(variances_over_n: Sequence[float], dofs: Sequence[int]) -> tuple[float, float]:
    """Standard error and Welch-Satterthwaite degrees of freedom of a sum of independent means' terms."""
    total = sum(variances_over_n)
    denom = sum(v * v / d for v, d in zip(variances_over_n, dofs))
    return math.sqrt(total), (total * total / denom if denom > 0 else math.inf)


def _interval(
    delta: float, se: float, df: float, n_a: int, n_b: int, confidence: float, power: float
) -> MeanDifference:
    alpha = 1.0 - confidence
    tq = student_t_ppf(1.0 - alpha / 2, df)
    t = delta / se
    p = min(1.0, 2 * student_t_sf(abs(t), df))
    mde = (tq + student_t_ppf(power, df)) * se
    return MeanDifference(delta, se, df, delta - tq * se, delta + tq * se, p, mde, n_a, n_b)


def mean_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE, power: float = 0.8
) -> MeanDifference:
    """Welch's ``confidence`` interval, two-sided p and MDE at ``power`` for ``mean(a) − mean(b)``."""
    if not a or not b:
        raise ValueError("a mean difference needs values on both sides")
    delta = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return MeanDifference(delta, None, None, None, None, None, None, len(a), len(b))
    se, df = _welch_parts([statistics.variance(a) / len(a), statistics.variance(b) / len(b)], [len(a) - 1, len(b) - 1])
    if se == 0:
        return MeanDifference(delta, None, None, None, None, None, None, len(a), len(b))
    return _interval(delta, se, df, len(a), len(b), confidence, power)


def paired_difference(d: Sequence[float], confidence: float = CONFIDENCE, power: float = 0.8) -> MeanDifference:
    """``mean(d)`` of within-pair differences with the paired t interval (df ``n − 1``), two-sided p and MDE at
    ``power`` (``n_a == n_b == n``); ``low``/``high``/``p``/``mde`` are ``None`` under 2 pairs or with no spread."""
    if not d:
        raise ValueError("a paired difference needs at least one pair")
    delta = statistics.fmean(d)
    n = len(d)
    if n < 2 or statistics.stdev(d) == 0:
        return MeanDifference(delta, None, None, None, None, None, None, n, n)
    return _interval(delta, statistics.stdev(d) / math.sqrt(n), n - 1, n, n, confidence, power)


def difference_in_differences(
    a1: Sequence[float],
    b1: Sequence[float],
    a0: Sequence[float],
    b0: Sequence[float],
    confidence: float = CONFIDENCE,
    power: float = 0.8,
) -> MeanDifference:
    """``(mean(a1) − mean(b1)) − (mean(a0) − mean(b0))`` over four independent samples, with a Welch interval
    (Satterthwaite degrees of freedom over the four variances), two-sided p and MDE; ``n_a``/``n_b`` are the
    smallest sample of each difference."""
    groups = (a1, b1, a0, b0)
    if not all(groups):
        raise ValueError("a difference in differences needs values in all four groups")
    delta = (statistics.fmean(a1) - statistics.fmean(b1)) - (statistics.fmean(a0) - statistics.fmean(b0))
    n_a, n_b = min(len(a1), len(b1)), min(len(a0), len(b0))
    if any(len(g) < 2 for g in groups):
        return MeanDifference(delta, None, None, None, None, None, None, n_a, n_b)
    se, df = _welch_parts([statistics.variance(g) / len(g) for g in groups], [len(g) - 1 for g in groups])
    if se == 0:
        return MeanDifference(delta, None, None, None, None, None, None, n_a, n_b)
    return _interval(delta, se, df, n_a, n_b, confidence, power)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); ``None`` entries stay ``None`` and are
    not counted in the family."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def binomial_cdf_half(k: int, n: int) -> float:
    """P(X ≤ k) for X ~ Binomial(n, 1/2) (``scipy.stats.binom``)."""
    from scipy.stats import binom

    return float(binom.cdf(k, n, 0.5))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p for discordant counts ``b`` (only A right) and ``c`` (only B right):
    ``min(1, 2 · P(X ≤ min(b, c)))``, X ~ Binomial(b + c, 1/2); 1 when there is no discordant pair."""
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * binomial_cdf_half(min(b, c), n))


def paired_ttest(d: Sequence[float]) -> tuple[float, float, float] | None:
    """One-sample t-test of paired differences ``d`` against 0: (t, df, two-sided p); ``None`` for < 2 values or
    no spread."""
    if len(d) < 2:
        return None
    sd = statistics.stdev(d)
    if sd == 0:
        return None
    t = statistics.fmean(d) / (sd / math.sqrt(len(d)))
    df = len(d) - 1
    return t, float(df), min(1.0, 2 * student_t_sf(abs(t), df))


BOOTSTRAP_MIN_SEEDS = 10
"""Bootstrap intervals are given only when both sides have at least this many seeds."""


def bootstrap_ci(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE, rounds: int = 10_000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``mean(a) − mean(b)`` (each side resampled with replacement, seeded);
    ``None`` unless both sides have ``BOOTSTRAP_MIN_SEEDS`` values."""
    import random

    if len(a) < BOOTSTRAP_MIN_SEEDS or len(b) < BOOTSTRAP_MIN_SEEDS:
        return None
    rng = random.Random(seed)
    stats = sorted(
        statistics.fmean(rng.choices(a, k=len(a))) - statistics.fmean(rng.choices(b, k=len(b))) for _ in range(rounds)
    )
    alpha = 1.0 - confidence
    lo = stats[max(0, math.floor(alpha / 2 * rounds))]
    hi = stats[min(rounds - 1, math.ceil((1 - alpha / 2) * rounds) - 1)]
    return lo, hi
