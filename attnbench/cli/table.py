"""`attnbench table`: a paper's comparison table, measured beside the published values."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..errors import UsageError
from . import render
from .options import (
    ExportCsvOpt,
    ExportJsonOpt,
    ExportMdOpt,
    Exports,
    FormatOpt,
    Measurement,
    QuietOpt,
    measurement_options,
    parse_input,
)


# every paper row fixes its reduction; tables time inference
@measurement_options(omit=("reduction", "match_params", "mode"))
def table_cmd(
    name: Annotated[str | None, typer.Argument(help="Table to regenerate; see --list.", show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the tables and exit.")] = False,
    latency: Annotated[bool, typer.Option("--latency", help="Add measured latency columns (slower).")] = False,
    format: FormatOpt = "table",
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Input size in pixels: one side (224) or HEIGHTxWIDTH (1024x2048).",
            show_default="the table's: 224; 320 detection; 512 VOC and 1024x2048 Cityscapes segmentation",
        ),
    ] = None,
    quiet: QuietOpt = False,
    export_csv: ExportCsvOpt = None,
    export_json: ExportJsonOpt = None,
    export_md: ExportMdOpt = None,
    *,
    measure: Measurement,
) -> None:
    """Rebuild a paper's comparison table and print measured values beside the published ones."""
    from ..papers import tables

    if list_ or name is None:
        if name is None and not list_:
            raise UsageError(
                f"name a table, e.g. 'attnbench table ca-table2'; choose from: {', '.join(tables.TABLES)}."
            )
        render.show_table_list(list(tables.TABLES.values()))
        return
    spec = tables.get_table(name)
    exports = Exports(export_csv, export_json, export_md)
    exports.check()
    fields = {k: v for k, v in measure.spec_fields().items() if k not in ("reduction", "match_params")}
    groups = len(tables.measure_groups(spec))
    with render.progress_bar(groups, f"table {name}", quiet=quiet or format != "table") as progress:
        size = spec.input_size if input is None else parse_input(input)
        rows = tables.measure_table(spec, latency=latency, input_size=size, progress=progress, **fields)
    from ..cost.shape import input_hw
    from ..env import collect_env

    env = collect_env(measure.device)
    context = (
        f"measured: {'×'.join(map(str, input_hw(size)))}, batch {measure.batch}, {measure.dtype}, {env.device_name}, "
        f"torch {env.torch_version}"
    )
    if format == "table":
        render.show_table(spec.title, context, rows)
    else:
        render.write_text(table_text(spec, rows, context, format))
    exports.write(lambda fmt: table_text(spec, rows, context, fmt))


def table_text(spec: Any, rows: list[dict[str, Any]], context: str, fmt: str) -> str:
    """A measured paper table as the text ``--format fmt`` prints (csv, json, md or latex), and the
    ``--export-*`` files hold: CSV and JSON the raw rows, Markdown and LaTeX the screen's cells and footnotes."""
    import json

    from ..io import export
    from ..io.csvfile import csv_text
    from ..papers import tables

    if fmt == "csv":
        return csv_text(tables.TABLE_COLUMNS, rows)
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    columns, cells, notes = render.table_cells(rows)
    source = f"{spec.source} (per-value sources: attnbench/papers/{tables.DATA_FILE})"
    notes = [*notes, f"* outside the published value's rounding; {context}; published numbers: {source}."]
    serialize = export.to_markdown if fmt == "md" else export.to_latex
    return serialize(columns, cells, notes, title=spec.title)
