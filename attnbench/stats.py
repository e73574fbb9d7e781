"""Statistics over plain numbers: summaries of timing samples and the stability warnings about them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

SPREAD_WARN = 0.10
"""IQR / median above which a latency is flagged as unstable."""

MIN_SAMPLES = 10


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


def check_stability(summary: Summary, label: str = "") -> tuple[str, ...]:
    """Warnings, each naming a remedy, when a timing summary should not be trusted."""
    where = f"{label}: " if label else ""
    out: list[str] = []
    if summary.median > 0 and summary.iqr / summary.median > SPREAD_WARN:
        pct = 100 * summary.iqr / summary.median
        out.append(
            f"{where}latency spread is high (IQR {pct:.0f}% of the median); close other programs, "
            "pin --threads, or raise --repeats."
        )
    return tuple(out)


def check_sample_count(n: int) -> tuple[str, ...]:
    """A warning when ``n`` samples are too few for a trustworthy median and IQR."""
    return (f"only {n} samples per model; raise --repeats to at least {MIN_SAMPLES}.",) if n < MIN_SAMPLES else ()


# Welch's t-test with the Student-t tail from the regularized incomplete beta function


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) by Lentz's continued fraction (Numerical Recipes ``betacf``), to ~1e-14 relative."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1) / (a + b + 2):
        return 1.0 - regularized_beta(b, a, 1.0 - x)
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return math.exp(ln_front) * h / a


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` (real, > 0) degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


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
