"""``compare``: two result files side by side."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ...cost import BASELINE
from ...cost.records import SETTING_KEY
from .cells import millions, missing, pct, signed_millions
from .console import stdout
from .profile import KEY_LABELS, cell

if TYPE_CHECKING:
    pass


def _pair(a: Any, b: Any, fmt: Callable[[Any], str], change: str) -> str:
    """``A → B (change)``; ``–`` for a missing side, the change left out when either side is missing."""
    text = f"{fmt(a)} → {fmt(b)}"
    return text if missing(a) or missing(b) else f"{text} ({change})"


COMPARE_LEGEND = (
    "A = first file, B = second, rows matched on their configuration. Counts in M: A → B (B − A). latency ms: "
    "median, A → B (B / A). Δlat: each file's latency share against its 'none' row, A → B (change in percentage "
    "points). CIs overlap: whether the two 95 % intervals of Δlat overlap; 'no' means the change is beyond the "
    "noise of either run."
)


def compare_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Display columns and cells of ``attnbench compare`` (shared by the rich table and the Markdown output)."""
    varying = [c for c in SETTING_KEY if len({str(r[c]) for r in rows}) > 1]
    columns = [
        "module",
        *[KEY_LABELS.get(c, c) for c in varying],
        "in",
        "params M",
        "MACs M",
        "elem-ops M",
        "latency ms",
        "Δlat",
        "CIs overlap",
    ]
    where = {"both": "both", "a_only": "A only", "b_only": "B only"}
    cells = []
    for r in rows:
        count = [
            _pair(r[f"{m}_a"], r[f"{m}_b"], lambda v, d=d: millions(v, d), signed_millions(r[f"{m}_diff"], d))
            for m, d in (("params", 3), ("macs", 1), ("elementwise_ops", 1))
        ]
        ratio = r["latency_ratio"]
        lat = _pair(
            r["latency_ms_median_a"],
            r["latency_ms_median_b"],
            lambda v: "–" if missing(v) else f"{v:.3f}",
            "" if missing(ratio) else f"×{ratio:.3f}",
        )
        change = r["d_latency_pct_change"]
        dlat = _pair(
            r["d_latency_pct_a"],
            r["d_latency_pct_b"],
            pct,
            "" if missing(change) else f"{round(change, 1) + 0.0:+.1f} pp",
        )
        overlap = {True: "yes", False: "no", None: "–"}[r["ci_overlap"]]
        if r["module"] == BASELINE:  # its share is 0 by definition, as in the profile table
            dlat, overlap = "", ""
        cells.append([r["module"], *[cell(r, c) for c in varying], where[r["in"]], *count, lat, dlat, overlap])
    return columns, cells


def show_compare(rows: list[dict[str, Any]], title: str, notes: list[str], console: Console = stdout) -> None:
    """The comparison of two result files: one row per configuration, A → B for every metric."""
    columns, cells = compare_cells(rows)
    table = Table(title=escape(title), title_justify="left")
    for c in columns:
        table.add_column(c, justify="left" if c in ("module", "backbone", "build", "in", "device") else "right")
    for row in cells:
        table.add_row(*[escape(c) for c in row])
    console.print(table)
    console.print(COMPARE_LEGEND, style="dim", markup=False)
    for note in notes:
        console.print(note, markup=False)
