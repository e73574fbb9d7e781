"""`attnbench sweep`: a grid of profile runs, each finished configuration appended to the CSV at once."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError, rows_failed
from . import render
from .options import (
    BatchOpt,
    CsvOpt,
    DeviceOpt,
    LatencyOpt,
    PluginsOpt,
    QuietOpt,
    RepeatsOpt,
    TableFormatOpt,
    ThreadsOpt,
    WarmupOpt,
    load_plugins,
    nonempty,
    parse_numbers,
    split_names,
)

GRID_NAMES: dict[str, str | None] = {
    "module": "--modules", "backbone": "--backbones", "width": "--widths", "input_size": "--inputs",
    "small_input": None, "position": None, "reduction": None, "dtype": None, "num_classes": None, "weights": None,
}  # fmt: skip
"""How messages name the fields of a grid command (sweep, baseline write): its own options; None for the options it
lacks, which no message may suggest."""


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
    format: TableFormatOpt = "csv",
    plugins: PluginsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Profile a grid of modules × backbones × widths × inputs, appending each finished configuration to --csv."""
    from ..api import build_spec
    from ..cost import sweep
    from ..cost.records import COLUMNS, as_dict, to_frame
    from ..io import export

    if format not in ("table", *export.FORMATS):
        raise UsageError(f"--format '{format}' is not supported; choose from: table, {', '.join(export.FORMATS)}.")
    if resume and csv is None:
        raise UsageError("--resume needs --csv PATH: the file whose rows are skipped.")
    load_plugins(plugins)
    specs = sweep.plan(
        build_spec, nonempty(split_names(modules_), "--modules", modules_, "se,ca"),
        nonempty(split_names(backbones), "--backbones", backbones, "mbv2"),
        nonempty(parse_numbers(widths, float, "--widths"), "--widths", widths, "1.0,0.5"),
        nonempty(parse_numbers(inputs, int, "--inputs"), "--inputs", inputs, "224,160"), batch=batch, device=device,
        threads=threads, repeats=repeats, warmup=warmup, latency=latency, names=GRID_NAMES,
    )  # fmt: skip
    if csv is not None:
        from ..io.csvfile import check_target

        check_target(csv, COLUMNS)  # before the progress bar: a refused file is the only line
    records, warnings = [], []
    with render.progress_bar(len(specs), "sweep", quiet=quiet) as progress:
        for rows, group_warnings in sweep.run(specs, csv, resume, progress):
            records.extend(rows)
            warnings.extend(w for w in group_warnings if w not in warnings)
    if resume and not records:
        planned = sum(len(s.names) * len(s.builds) for s in specs)
        render.info(f"nothing to measure: all {planned} rows are already in {csv}")
        return
    frame = to_frame(records)
    if format == "csv":
        render.write_text(export.to_csv(COLUMNS, [[as_dict(r)[c] for c in COLUMNS] for r in records]))
    elif format == "table":
        render.show_profile(frame)
    else:
        columns, cells = render.profile_cells(frame)
        serialize = export.to_markdown if format == "md" else export.to_latex
        render.write_text(serialize(columns, cells, [render.PROFILE_LEGEND], title="attnbench sweep"))
    for w in warnings:
        render.warn(w)
    if csv is not None:
        render.info(f"{len(records)} rows appended to {csv}")
    failures = [
        (f"{r.backbone}/{r.module} ×{r.width:g} @{r.input_size}", r.error) for r in records if r.status == "failed"
    ]
    if failures:
        raise rows_failed(failures, len(records))
