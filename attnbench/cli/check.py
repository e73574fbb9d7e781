"""`attnbench baseline write` and `attnbench check`: cost baselines for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ..errors import UsageError, rows_failed
from . import render
from .options import (
    TIMING,
    BackbonesOpt,
    InputsOpt,
    LatencyOpt,
    Measurement,
    ModulesOpt,
    PluginsOpt,
    QuietOpt,
    WidthsOpt,
    load_plugins,
    measurement_options,
    nonempty,
    parse_inputs,
    parse_numbers,
    parse_precision,
    split_names,
)

BaselinePathArg = Annotated[Path, typer.Argument(help="Baseline CSV file.", show_default=False)]
FromOpt = Annotated[Path | None, typer.Option("--from", help="Build the baseline from a profile/sweep CSV instead.")]


@measurement_options(omit=("mode", "match_params"))  # a baseline holds inference costs, its r as a number
def baseline_write_cmd(
    path: BaselinePathArg,
    modules_: ModulesOpt = "se,cbam,bam,ca",
    backbones: BackbonesOpt = "mbv2",
    widths: WidthsOpt = "1.0",
    inputs: InputsOpt = "224",
    latency: LatencyOpt = True,
    from_csv: FromOpt = None,
    plugins: PluginsOpt = None,
    quiet: QuietOpt = False,
    *,
    measure: Measurement,
) -> None:
    """Measure modules × backbones × widths × inputs (or read a profile CSV) and write a baseline file."""
    from ..api import build_spec
    from ..cost import baseline
    from ..io.csvfile import check_path

    check_path(path, option="")  # a folder, a link or a missing folder is refused before anything is measured
    load_plugins(plugins)
    if from_csv is not None:
        if _same_file(from_csv, path):
            raise UsageError(f"'{path}' is the --from file; write the baseline to another path (it would replace it).")
        measured = baseline.rows_from_profile_csv(from_csv)
    else:
        fields = measure.spec_fields()
        names = nonempty(split_names(modules_), "--modules", modules_, "se,ca")
        grid = (
            nonempty(split_names(backbones), "--backbones", backbones, "mbv2"),
            nonempty(parse_numbers(widths, float, "--widths"), "--widths", widths, "1.0,0.5"),
            parse_inputs(inputs),
        )
        specs = [
            build_spec(names, backbone=b, width=w, input_size=i, latency=latency, memory=False, **fields)
            for b in grid[0]
            for w in grid[1]
            for i in grid[2]
        ]
        with render.progress_bar(len(specs), "baseline write", quiet=quiet) as progress:
            measured = baseline.measure(specs, progress)
    if measured.rows:
        baseline.write_baseline(path, measured.rows)
        render.info(f"{len(measured.rows)} rows written to {path}")
    if measured.failed:
        # The failed configurations have no row: a baseline row always holds its counts, or check would reject it.
        raise rows_failed(list(measured.failed.values()), measured.total)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one existing file (a path the system refuses names none: its reader says why)."""
    try:
        return a.samefile(b)
    except OSError:
        return False


@measurement_options(only=TIMING)
def check_cmd(
    path: BaselinePathArg,
    latency_tolerance: Annotated[
        str, typer.Option("--latency-tolerance", help="Allowed latency-ratio growth.")
    ] = "10%",
    only: Annotated[
        str | None,
        typer.Option("--only", help="Metrics to check: params,macs,elementwise_ops,latency.", show_default="all"),
    ] = None,
    format: Annotated[
        Literal["table", "csv", "json"],
        typer.Option("--format", help="Output on stdout: table (rich), csv (one row per finding) or json."),
    ] = "table",
    github: Annotated[bool, typer.Option("--github", help="Also print GitHub Actions annotations.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Compare latency across torch versions and devices.")] = False,
    accept: Annotated[bool, typer.Option("--accept", help="Rewrite the baseline with the new measurements.")] = False,
    changed_only: Annotated[
        bool, typer.Option("--changed-only", help="Table: only the findings that are not ok.")
    ] = False,
    plugins: PluginsOpt = None,
    runtime: Annotated[
        str | None,
        typer.Option("--runtime", help="Check only the rows of these runtimes, comma-separated.", show_default="all"),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Table: only what failed, and the summary line; no progress.")
    ] = False,
    *,
    measure: Measurement,
) -> None:
    """Re-measure every row of a baseline; exit 1 on a regression or a changed count, 2 on bad input."""
    from ..cost import baseline

    load_plugins(plugins)
    tolerance, metrics = parse_tolerance(latency_tolerance), parse_metrics(only)
    old = baseline.read_baseline(path)
    if runtime is not None:
        old = baseline.select_runtimes(old, nonempty(split_names(runtime), "--runtime", runtime, "eager"), path)
    if accept:
        from ..io.csvfile import check_path

        check_path(path, option="")  # --accept rewrites it: decided before anything is measured
    specs = baseline.specs_for(
        old,
        latency="latency" in metrics or accept,
        repeats=measure.repeats,
        warmup=measure.warmup,
        precision=parse_precision(measure.precision),
        max_time=measure.max_time,
        path=path,
        warm_calls=measure.warm_calls,
    )
    with render.progress_bar(len(specs), "check", quiet=quiet or format != "table") as progress:
        new = baseline.measure(specs, progress)
    result = baseline.compare(old, new.rows, metrics, tolerance, force, new.failed)
    if accept:
        if new.failed:
            raise rows_failed(list(new.failed.values()), new.total)  # never accept a baseline with rows missing
        baseline.write_baseline(path, new.rows)
    shown = "failed" if quiet else "changed" if changed_only else "all"
    render.show_check(result, path, format, github, accepted=accept, shown=shown)
    if result.failures and not accept:
        raise typer.Exit(1)


def parse_tolerance(text: str) -> float:
    """``"10%"`` or ``"0.1"`` → 0.1."""
    import math

    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 10 or not math.isfinite(value):
        raise UsageError(f"--latency-tolerance '{text}' is not a tolerance; use a percentage such as 10%.")
    return value


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """``"params,latency"`` → the metrics named, each one of ``cost.baseline.METRICS``; all of them when empty."""
    from ..cost import baseline

    if not text:
        return baseline.METRICS
    names = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    bad = [m for m in names if m not in baseline.METRICS]
    if bad or not names:
        raise UsageError(f"--only '{text}' names no known metric; choose from: {', '.join(baseline.METRICS)}.")
    return names
