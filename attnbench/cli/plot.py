"""`attnbench plot`: two columns of a results CSV, one labelled point per model, the Pareto front marked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from . import render

EMPTY_FIX = "run a profile or sweep with --csv first."
"""How to fill an empty results file: the options are those of other commands."""


def plot_cmd(
    csv_path: Annotated[
        Path, typer.Argument(help="A results CSV (profile, sweep or ablation rows).", show_default=False)
    ],
    x: Annotated[str, typer.Option("--x", help="Column for the x axis.")] = "macs",
    y: Annotated[str, typer.Option("--y", help="Column for the y axis.")] = "latency_ms_median",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="PNG to write.", show_default="next to the CSV, named after the columns"),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            help="Label column or template, e.g. '{module} r{reduction}'.",
            show_default="the columns that tell the models apart",
        ),
    ] = None,
    maximize_y: Annotated[
        bool | None,
        typer.Option(
            "--maximize-y/--minimize-y",
            help="Pareto direction of y.",
            show_default="maximize accuracy and throughput, minimize the rest",
        ),
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option("--where", help="Keep rows with COLUMN=VALUE (repeatable).")
    ] = None,
    curves: Annotated[
        bool,
        typer.Option("--curves", help="Ablation rows: draw the learning curves (test top-1 per epoch) instead."),
    ] = False,
) -> None:
    """Plot two columns of a results CSV, one labelled point per model, with the Pareto front marked."""
    from ..cost.records import KEY, USUAL, VALUES
    from ..io.plot import plot_csv

    filters = {}
    for item in where or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise UsageError(f"--where '{item}' must look like COLUMN=VALUE, e.g. --where backbone=mbv2.")
        filters[column.strip()] = value.strip()
    if curves:
        from ..io.plot import plot_curves

        path = plot_curves(
            csv_path,
            out=out,
            where=filters or None,
            rules=VALUES,
            empty_fix=EMPTY_FIX,
            curves_fix="run ablate with --curve-samples > 0.",
        )
    else:
        identity = ("table", *KEY)  # paper-table rows add the table they belong to
        path = plot_csv(
            csv_path,
            x,
            y,
            out=out,
            label=label,
            maximize_y=maximize_y,
            where=filters or None,
            rules=VALUES,
            identity=identity,
            usual=USUAL,
            empty_fix=EMPTY_FIX,
        )
    render.info(f"wrote {path}")
