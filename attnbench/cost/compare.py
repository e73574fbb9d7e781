"""Two result files side by side (``attnbench compare A.csv B.csv``): rows matched on their configuration.

A row of A and a row of B stand for the same model when their configuration key (``records.KEY``, the key ``sweep
--resume`` uses) is equal, normalised the same way, so CSV text from two runs compares equal. Only ``status=ok`` rows
count; when a file holds one configuration more than once (a resumed sweep), its last ok row stands for it.

For each matched row: params, MACs and element-wise ops of A and B and B − A; the median latency of A and B and
B / A; the latency share ``d_latency_pct`` of A and B, its change B − A in percentage points, and whether the 95 %
intervals of the two shares overlap (``None`` when either file has no interval). Rows only in A or only in B are
listed as such, with the other side empty. A file written before a key column existed is read with that column's
old meaning (``records.legacy_defaults``: no ``runtime`` means the build's, no ``mode`` means inference).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ResultsFileError, UsageError
from .records import ADDED_COLUMNS, KEY, VALUES, legacy_defaults, read_result_rows
from .sweep import row_key

COUNTS = ("params", "macs", "elementwise_ops")
"""Exact counts: compared as B − A."""
LATENCY = ("latency_ms_median", "d_latency_pct", "d_latency_pct_ci_low", "d_latency_pct_ci_high")
REQUIRED = (*KEY, *COUNTS)
"""Columns a results file must have; the latency columns may be missing (an older or count-only file)."""

COLUMNS = (
    *KEY,
    "in",
    *[f"{m}_{s}" for m in COUNTS for s in ("a", "b", "diff")],
    "latency_ms_median_a",
    "latency_ms_median_b",
    "latency_ratio",
    "d_latency_pct_a",
    "d_latency_pct_b",
    "d_latency_pct_change",
    "d_latency_pct_ci_low_a",
    "d_latency_pct_ci_high_a",
    "d_latency_pct_ci_low_b",
    "d_latency_pct_ci_high_b",
    "ci_overlap",
)
"""The columns of a comparison row: raw numbers; ``in`` is ``both``, ``a_only`` or ``b_only``."""


@dataclass(frozen=True)
class Results:
    """The ok rows of one results file, by configuration key, in file order."""

    path: Path
    rows: dict[tuple[str, ...], dict[str, Any]]
    failed: int
    """Rows with another status than ok: left out."""


def read_results(path: Path, option: str) -> Results:
    """The typed ok rows of a profile or sweep CSV, read and checked as every results reader does
    (``records.read_result_rows``).

    Raises:
        ResultsFileError: a missing file, a folder or anything but a regular file (a FIFO is refused, never waited
            on), a file that is not a results CSV (its header lacks the configuration or count columns), a cell that
            breaks its column's rule (``file:line``), or no ok row at all.
    """
    label = f"{option} '{os.fspath(path)}'"
    fix = "pass a results CSV that 'attnbench profile' or 'attnbench sweep' wrote."
    table = read_result_rows(path, option, fix)
    missing = [c for c in REQUIRED if c not in table.header and c not in ADDED_COLUMNS]
    if missing:
        raise ResultsFileError(f"{label} is not a results CSV (no column '{missing[0]}'); {fix}")
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    failed = 0
    for _, raw in table.rows:
        raw = legacy_defaults(raw)
        if raw.get("status", "ok") != "ok":
            failed += 1
            continue
        typed = {c: raw.get(c, None if c in VALUES else "") for c in (*KEY, *COUNTS, *LATENCY)}
        key = row_key(typed)
        rows.pop(key, None)  # the last ok row of a configuration stands for it, in the place it was last written
        rows[key] = typed
    if not rows:
        raise ResultsFileError(f"{label} holds no ok result rows; {fix}")
    return Results(path, rows, failed)


def _diff(a: Any, b: Any) -> Any:
    return None if a is None or b is None else b - a


def _ratio(a: Any, b: Any) -> float | None:
    return None if a is None or b is None or a == 0 else b / a


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool | None:
    lo_a, hi_a, lo_b, hi_b = (r.get(c) for r in (a, b) for c in ("d_latency_pct_ci_low", "d_latency_pct_ci_high"))
    if None in (lo_a, hi_a, lo_b, hi_b):
        return None
    return bool(lo_a <= hi_b and lo_b <= hi_a)


def compare(a: Results, b: Results) -> list[dict[str, Any]]:
    """One row per configuration of A (in A's order), then those only in B (in B's order); see ``COLUMNS``.

    Raises:
        UsageError: no configuration is in both files.
    """
    both = [k for k in a.rows if k in b.rows]
    if not both:
        raise UsageError(
            f"no row of '{a.path}' matches a row of '{b.path}' on its configuration ({', '.join(KEY)}); "
            "compare two runs of the same models."
        )
    out = []
    for key in [*a.rows, *[k for k in b.rows if k not in a.rows]]:
        ra, rb = a.rows.get(key, {}), b.rows.get(key, {})
        where = "both" if ra and rb else "a_only" if ra else "b_only"
        row: dict[str, Any] = {k: (ra or rb)[k] for k in KEY}
        row["in"] = where
        for m in COUNTS:
            row.update({f"{m}_a": ra.get(m), f"{m}_b": rb.get(m), f"{m}_diff": _diff(ra.get(m), rb.get(m))})
        lat_a, lat_b = ra.get("latency_ms_median"), rb.get("latency_ms_median")
        d_a, d_b = ra.get("d_latency_pct"), rb.get("d_latency_pct")
        row.update(
            {
                "latency_ms_median_a": lat_a,
                "latency_ms_median_b": lat_b,
                "latency_ratio": _ratio(lat_a, lat_b),
                "d_latency_pct_a": d_a,
                "d_latency_pct_b": d_b,
                "d_latency_pct_change": _diff(d_a, d_b),
                "d_latency_pct_ci_low_a": ra.get("d_latency_pct_ci_low"),
                "d_latency_pct_ci_high_a": ra.get("d_latency_pct_ci_high"),
                "d_latency_pct_ci_low_b": rb.get("d_latency_pct_ci_low"),
                "d_latency_pct_ci_high_b": rb.get("d_latency_pct_ci_high"),
                "ci_overlap": _overlap(ra, rb) if where == "both" else None,
            }
        )
        out.append(row)
    return out
