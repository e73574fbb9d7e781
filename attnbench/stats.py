"""Statistics over plain numbers: summaries of timing samples and the stability warnings about them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence

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
    xs = sorted(samples)
    if not xs:
        raise ValueError("quartiles of an empty sample")

    def q(p: float) -> float:
        pos = p * (len(xs) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    return q(0.25), q(0.5), q(0.75)


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
