"""Units and rounding of the cells every table shows (the frames and CSVs hold raw numbers)."""

from __future__ import annotations

from typing import Any


def missing(v: Any) -> bool:
    """None, NaN and pandas' NA (empty cells of nullable integer columns)."""
    import pandas as pd

    return v is None or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))


def millions(v: Any, digits: int = 3) -> str:
    return "–" if missing(v) else f"{v / 1e6:.{digits}f}"


def signed_millions(v: Any, digits: int = 3) -> str:
    return "–" if missing(v) else f"{v / 1e6:+.{digits}f}"


def pct(v: Any) -> str:
    return "–" if missing(v) else f"{round(v, 1) + 0.0:+.1f}%"  # + 0.0 turns -0.0 into 0.0


def latency(median: Any, iqr: Any) -> str:
    return "–" if missing(median) else f"{median:.3f} ± {iqr:.3f}"


def delta_latency(d: Any, low: Any, high: Any) -> str:
    """``+31.2% [28.0, 34.1]``: the median paired Δ and its 95 % interval, in %; the interval is left out when
    there is none (too few samples)."""
    if missing(d):
        return "–"
    if missing(low) or missing(high):
        return pct(d)
    return f"{pct(d)} [{round(low, 1) + 0.0:.1f}, {round(high, 1) + 0.0:.1f}]"


def with_delta(value: Any, delta: Any, base: bool, digits: int) -> str:
    return millions(value, digits) if base else f"{millions(value, digits)} ({signed_millions(delta, digits)})"
