"""`attnbench table`: a paper's comparison table, measured beside the published values."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from . import render
from .options import (
    InputOpt,
    QuietOpt,
    RepeatsOpt,
    TableFormatOpt,
    ThreadsOpt,
)

TABLE_NAMES: dict[str, str | None] = {"small_input": None, "device": None, "dtype": None, "weights": None}
"""Options of ``profile`` that ``table`` lacks: no message may suggest them."""


def table_cmd(
    name: Annotated[str | None, typer.Argument(help="Table to regenerate; see --list.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the tables and exit.")] = False,
    latency: Annotated[bool, typer.Option("--latency", help="Add measured latency columns (slower).")] = False,
    format: TableFormatOpt = "table",
    input: InputOpt = 224,
    threads: ThreadsOpt = 1,
    repeats: RepeatsOpt = 30,
    quiet: QuietOpt = False,
) -> None:
    """Rebuild a paper's comparison table and print measured values beside the published ones."""
    from ..io import export
    from ..papers import tables

    if list_ or name is None:
        if name is None and not list_:
            raise UsageError(
                f"name a table, e.g. 'attnbench table ca-table2'; choose from: {', '.join(tables.TABLES)}."
            )
        render.show_table_list(list(tables.TABLES.values()))
        return
    if format not in ("table", *export.FORMATS):
        raise UsageError(f"--format '{format}' is not supported; choose from: table, {', '.join(export.FORMATS)}.")
    spec = tables.get_table(name)
    with render.status(f"measuring {name}", quiet=quiet or format != "table") as progress:
        rows = tables.measure_table(spec, latency=latency, input_size=input, progress=progress, threads=threads,
                                    repeats=repeats, names=TABLE_NAMES)  # fmt: skip
    from ..env import collect_env

    env = collect_env("cpu")
    context = f"measured: {input}×{input}, batch 1, float32, {env.device_name}, torch {env.torch_version}"
    if format == "table":
        render.show_table(spec.title, context, rows)
    elif format == "csv":
        render.write_text(export.to_csv(tables.TABLE_COLUMNS, [[r[c] for c in tables.TABLE_COLUMNS] for r in rows]))
    else:
        columns, cells, notes = render.table_cells(rows)
        source = f"{spec.source} (per-value sources: attnbench/papers/{tables.DATA_FILE})"
        notes = [*notes, f"* outside the published value's rounding; {context}; published numbers: {source}."]
        serialize = export.to_markdown if format == "md" else export.to_latex
        render.write_text(serialize(columns, cells, notes, title=spec.title))
