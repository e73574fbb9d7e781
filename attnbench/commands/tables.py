"""`attnbench table`, `attnbench sweep` and `attnbench plot`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import report
from ..cli import (
    BatchOpt,
    CsvOpt,
    DeviceOpt,
    InputOpt,
    LatencyOpt,
    PluginsOpt,
    QuietOpt,
    RepeatsOpt,
    TableFormatOpt,
    ThreadsOpt,
    WarmupOpt,
    app,
    load_plugins,
    parse_numbers,
    split_names,
)
from ..errors import UsageError, rows_failed


@app.command("table")
def table_cmd(
    name: Annotated[Optional[str], typer.Argument(help="Table to regenerate; see --list.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the tables and exit.")] = False,
    latency: Annotated[bool, typer.Option("--latency", help="Add measured latency columns (slower).")] = False,
    format: TableFormatOpt = "table",  # noqa: A002 - the option is --format
    input: InputOpt = 224,  # noqa: A002 - the option is --input
    threads: ThreadsOpt = 1,
    repeats: RepeatsOpt = 30,
    quiet: QuietOpt = False,
) -> None:
    """Rebuild a paper's comparison table and print measured values beside the published ones."""
    from .. import export, tables

    if list_ or name is None:
        if name is None and not list_:
            raise UsageError(
                f"name a table, e.g. 'attnbench table ca-table2'; choose from: {', '.join(tables.TABLES)}."
            )
        report.show_table_list(list(tables.TABLES.values()))
        return
    if format not in ("table", *export.FORMATS):
        raise UsageError(f"--format '{format}' is not supported; choose from: table, {', '.join(export.FORMATS)}.")
    spec = tables.get_table(name)
    with report.status(f"measuring {name}", quiet=quiet or format != "table") as progress:
        rows = tables.measure_table(spec, latency=latency, input_size=input, progress=progress, threads=threads,
                                    repeats=repeats)  # fmt: skip
    from ..env import collect_env

    env = collect_env("cpu")
    context = f"measured: {input}×{input}, batch 1, float32, {env.device_name}, torch {env.torch_version}"
    if format == "table":
        report.show_table(spec.title, context, rows)
    elif format == "csv":
        report.write_text(export.to_csv(tables.TABLE_COLUMNS, [[r[c] for c in tables.TABLE_COLUMNS] for r in rows]))
    else:
        columns, cells, notes = report.table_cells(rows)
        notes = [*notes, f"* outside the published value's rounding; {context}; published numbers: {spec.source}."]
        serialize = export.to_markdown if format == "md" else export.to_latex
        report.write_text(serialize(columns, cells, notes, title=spec.title))


@app.command("sweep")
def sweep_cmd(
    modules_: Annotated[
        str, typer.Option("--modules", "-m", help="Attention modules, comma-separated.")
    ] = "se,cbam,bam,ca",
    backbones: Annotated[str, typer.Option("--backbones", "-b", help="Backbones, comma-separated.")] = "mbv2",
    widths: Annotated[str, typer.Option("--widths", help="Width multipliers, comma-separated.")] = "1.0",
    inputs: Annotated[str, typer.Option("--inputs", help="Input sizes, comma-separated.")] = "224",
    batch: BatchOpt = 1,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = 1,
    repeats: RepeatsOpt = 30,
    warmup: WarmupOpt = 10,
    latency: LatencyOpt = True,
    csv: CsvOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip rows already in --csv.")] = False,
    format: TableFormatOpt = "csv",  # noqa: A002 - the option is --format
    plugins: PluginsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Profile a grid of modules × backbones × widths × inputs, appending each finished configuration to --csv."""
    from .. import export, sweep
    from ..api import build_spec
    from ..records import COLUMNS, as_dict, to_frame

    if format not in ("table", *export.FORMATS):
        raise UsageError(f"--format '{format}' is not supported; choose from: table, {', '.join(export.FORMATS)}.")
    if resume and csv is None:
        raise UsageError("--resume needs --csv PATH: the file whose rows are skipped.")
    load_plugins(plugins)
    specs = sweep.plan(
        build_spec, split_names(modules_), split_names(backbones), parse_numbers(widths, float, "--widths"),
        parse_numbers(inputs, int, "--inputs"), batch=batch, device=device, threads=threads, repeats=repeats,
        warmup=warmup, latency=latency,
    )  # fmt: skip
    records, warnings = [], []
    with report.progress_bar(len(specs), "sweep", quiet=quiet) as progress:
        for rows, group_warnings in sweep.run(specs, csv, resume, progress):
            records.extend(rows)
            warnings.extend(w for w in group_warnings if w not in warnings)
    frame = to_frame(records)
    if format == "csv":
        report.write_text(export.to_csv(COLUMNS, [[as_dict(r)[c] for c in COLUMNS] for r in records]))
    elif format == "table":
        if len(frame):
            report.show_profile(frame)
        else:
            report.info("nothing left to measure")
    else:
        columns, cells = report.profile_cells(frame)
        serialize = export.to_markdown if format == "md" else export.to_latex
        report.write_text(serialize(columns, cells, [report.PROFILE_LEGEND], title="attnbench sweep"))
    for w in warnings:
        report.warn(w)
    if csv is not None:
        report.info(f"{len(records)} rows appended to {csv}")
    failures = [
        (f"{r.backbone}/{r.module} ×{r.width:g} @{r.input_size}", r.error) for r in records if r.status == "failed"
    ]
    if failures:
        raise rows_failed(failures, len(records))


@app.command("plot")
def plot_cmd(
    csv_path: Annotated[Path, typer.Argument(help="A results CSV (profile, sweep or ablation rows).")],
    x: Annotated[str, typer.Option("--x", help="Column for the x axis.")] = "macs",
    y: Annotated[str, typer.Option("--y", help="Column for the y axis.")] = "latency_ms_median",
    out: Annotated[Optional[Path], typer.Option("--out", help="PNG to write (default: next to the CSV).")] = None,
    label: Annotated[
        Optional[str], typer.Option("--label", help="Label column or template, e.g. '{module} r{reduction}'.")
    ] = None,
    maximize_y: Annotated[
        Optional[bool], typer.Option("--maximize-y/--minimize-y", help="Pareto direction of y (default: by column).")
    ] = None,
    where: Annotated[
        Optional[list[str]], typer.Option("--where", help="Keep rows with COLUMN=VALUE (repeatable).")
    ] = None,
) -> None:
    """Plot two columns of a results CSV, one labelled point per model, with the Pareto front marked."""
    from ..plot import plot_csv

    filters = {}
    for item in where or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise UsageError(f"--where '{item}' must look like COLUMN=VALUE, e.g. --where backbone=mbv2.")
        filters[column.strip()] = value.strip()
    path = plot_csv(csv_path, x, y, out=out, label=label, maximize_y=maximize_y, where=filters or None)
    report.info(f"wrote {path}")
