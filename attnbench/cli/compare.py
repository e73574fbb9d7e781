"""`attnbench compare`: two result files side by side, rows matched on their configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from . import render

ResultArg = Annotated[
    Path, typer.Argument(help="A CSV written by 'attnbench profile --csv' or 'sweep --csv'.", show_default=False)
]


def compare_cmd(
    a: ResultArg,
    b: ResultArg,
    format: Annotated[
        Literal["table", "csv", "json", "md"],
        typer.Option("--format", help="Output on stdout: table (rich), csv or json (raw numbers), or md."),
    ] = "table",
) -> None:
    """Compare two result files: params, MACs, element-wise ops and latency of A and B for every configuration."""
    import json

    from ..cost import compare
    from ..io import export
    from ..io.csvfile import csv_text

    first, second = compare.read_results(a, "A"), compare.read_results(b, "B")
    rows = compare.compare(first, second)
    counts = {w: sum(r["in"] == w for r in rows) for w in ("both", "a_only", "b_only")}
    notes = [f"{counts['both']} rows in both, {counts['a_only']} only in A ({a}), {counts['b_only']} only in B ({b})"]
    notes += [f"{r.failed} failed row(s) of {r.path} left out" for r in (first, second) if r.failed]
    title = f"attnbench compare: A = {a}, B = {b}"
    if format == "table":
        render.show_compare(rows, title, notes)
        return
    if format == "csv":
        render.write_text(csv_text(compare.COLUMNS, rows))
    elif format == "json":
        render.write_text(json.dumps(rows, indent=2) + "\n")
    else:
        render.write_text(export.to_markdown(*render.compare_cells(rows), [render.COMPARE_LEGEND, *notes], title=title))
    for note in notes:
        render.info(note)
