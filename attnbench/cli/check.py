"""`attnbench baseline write` and `attnbench check`: cost baselines for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError, rows_failed
from . import render
from .options import (
    FORMATS,
    BackbonesOpt,
    BatchOpt,
    FormatOpt,
    InputsOpt,
    LatencyOpt,
    ModulesOpt,
    PluginsOpt,
    QuietOpt,
    RepeatsOpt,
    ThreadsOpt,
    WarmupOpt,
    WidthsOpt,
    load_plugins,
    nonempty,
    parse_numbers,
    split_names,
)

BaselinePathArg = Annotated[Path, typer.Argument(help="Baseline CSV file.")]
FromOpt = Annotated[Path | None, typer.Option("--from", help="Build the baseline from a profile/sweep CSV instead.")]


def baseline_write_cmd(
    path: BaselinePathArg,
    modules_: ModulesOpt = "se,cbam,bam,ca",
    backbones: BackbonesOpt = "mbv2",
    widths: WidthsOpt = "1.0",
    inputs: InputsOpt = "224",
    batch: BatchOpt = 1,
    threads: ThreadsOpt = 1,
    repeats: RepeatsOpt = 30,
    warmup: WarmupOpt = 10,
    latency: LatencyOpt = True,
    from_csv: FromOpt = None,
    plugins: PluginsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Measure modules × backbones × widths × inputs (or read a profile CSV) and write a baseline file."""
    from ..api import build_spec
    from ..cost import baseline
    from ..io.csvfile import check_path
    from .sweep import GRID_NAMES

    check_path(path, option="")  # a folder, a link or a missing folder is refused before anything is measured
    load_plugins(plugins)
    if from_csv is not None:
        if from_csv.exists() and path.exists() and from_csv.samefile(path):
            raise UsageError(f"'{path}' is the --from file; write the baseline to another path (it would replace it).")
        measured = baseline.rows_from_profile_csv(from_csv)
    else:
        names = nonempty(split_names(modules_), "--modules", modules_, "se,ca")
        grid = (nonempty(split_names(backbones), "--backbones", backbones, "mbv2"),
                nonempty(parse_numbers(widths, float, "--widths"), "--widths", widths, "1.0,0.5"),
                nonempty(parse_numbers(inputs, int, "--inputs"), "--inputs", inputs, "224,160"))  # fmt: skip
        specs = [
            build_spec(names, backbone=b, width=w, input_size=i, batch=batch, threads=threads, repeats=repeats,
                       warmup=warmup, latency=latency, memory=False, names={**GRID_NAMES, "device": None})
            for b in grid[0] for w in grid[1] for i in grid[2]
        ]  # fmt: skip
        with render.status("measuring", quiet=quiet) as progress:
            measured = baseline.measure(specs, progress)
    if measured.rows:
        baseline.write_baseline(path, measured.rows)
        render.info(f"{len(measured.rows)} rows written to {path}")
    if measured.failed:
        # The failed configurations have no row: a baseline row always holds its counts, or check would reject it.
        raise rows_failed(list(measured.failed.values()), measured.total)


def check_cmd(
    path: BaselinePathArg,
    latency_tolerance: Annotated[
        str, typer.Option("--latency-tolerance", help="Allowed latency-ratio growth.")
    ] = "10%",
    only: Annotated[
        str | None, typer.Option("--only", help="Metrics to check: params,macs,elementwise_ops,latency.")
    ] = None,
    format: FormatOpt = "table",
    github: Annotated[bool, typer.Option("--github", help="Also print GitHub Actions annotations.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Compare latency across torch versions and devices.")] = False,
    accept: Annotated[bool, typer.Option("--accept", help="Rewrite the baseline with the new measurements.")] = False,
    repeats: RepeatsOpt = 30,
    warmup: WarmupOpt = 10,
    plugins: PluginsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Re-measure every row of a baseline; exit 1 on a regression or a changed count, 2 on bad input."""
    from ..cost import baseline

    if format not in FORMATS:
        raise UsageError(f"--format '{format}' is not supported; choose from: {', '.join(FORMATS)}.")
    load_plugins(plugins)
    tolerance, metrics = baseline.parse_tolerance(latency_tolerance), baseline.parse_metrics(only)
    old = baseline.read_baseline(path)
    if accept:
        from ..io.csvfile import check_path

        check_path(path, option="")  # --accept rewrites it: decided before anything is measured
    specs = baseline.specs_for(old, latency="latency" in metrics or accept, repeats=repeats, warmup=warmup, path=path)
    with render.status("re-measuring", quiet=quiet or format != "table") as progress:
        new = baseline.measure(specs, progress)
    result = baseline.compare(old, new.rows, metrics, tolerance, force, new.failed)
    if accept:
        if new.failed:
            raise rows_failed(list(new.failed.values()), new.total)  # never accept a baseline with rows missing
        baseline.write_baseline(path, new.rows)
    render.show_check(result, path, format, github, accepted=accept)
    if result.failures and not accept:
        raise typer.Exit(1)
