"""The Typer app: parse options, build a spec, call the runner, hand the result to ``report``.

Every user error ends as one ``Error:`` line on stderr with exit code 2 (bad input) or 1 (a failure the user
can act on); ``ATTNBENCH_DEBUG=1`` shows the traceback. Unknown exceptions keep their traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import report
from .errors import AttnbenchError, UsageError, rows_failed

app = typer.Typer(
    name="attnbench",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Honest cost numbers for attention modules (SE, CBAM, BAM, CA) inside mobile backbones.",
)

ModuleOpt = Annotated[
    str, typer.Option("--module", "-m", help="Attention module(s), comma-separated; see `attnbench list`.")
]
BackboneOpt = Annotated[str, typer.Option("--backbone", "-b", help="Backbone: mbv2, mnext, r18, r50.")]
WidthOpt = Annotated[float, typer.Option("--width", help="Channel width multiplier.")]
InputOpt = Annotated[int, typer.Option("--input", help="Input height and width in pixels.")]
BatchOpt = Annotated[int, typer.Option("--batch", help="Batch size.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N. Never falls back to another.")]
ThreadsOpt = Annotated[int, typer.Option("--threads", help="CPU intra-op threads used for timing (recorded).")]
CsvOpt = Annotated[
    Optional[Path], typer.Option("--csv", help="Append result rows to this CSV (header checked, never overwritten).")
]
FormatOpt = Annotated[str, typer.Option("--format", help="table (rich, default), csv or json on stdout.")]
PluginsOpt = Annotated[
    Optional[list[Path]],
    typer.Option("--plugins", help="Python file or folder registering extra modules (executed as code)."),
]
ReductionOpt = Annotated[Optional[int], typer.Option("--reduction", "-r", help="Reduction ratio r of every module.")]
PositionOpt = Annotated[
    Optional[str], typer.Option("--position", help="Insertion slot (see `attnbench list`), or 'stage'.")
]
RepeatsOpt = Annotated[int, typer.Option("--repeats", help="Timed samples per model.")]
WarmupOpt = Annotated[int, typer.Option("--warmup", help="Untimed calls before sampling.")]
CompileOpt = Annotated[bool, typer.Option("--compile", help="Add rows for a torch.compile build.")]
ChannelsLastOpt = Annotated[bool, typer.Option("--channels-last", help="Add rows for a channels_last build.")]
NumClassesOpt = Annotated[int, typer.Option("--num-classes", help="Classifier outputs.")]
SmallInputOpt = Annotated[bool, typer.Option("--small-input", help="No early downsampling (32-64 px inputs).")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="float32, bfloat16, or float16 (CUDA only).")]
LatencyOpt = Annotated[bool, typer.Option("--latency/--no-latency", help="Time the models (counts are always made).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output on stderr.")]


def split_names(value: str) -> tuple[str, ...]:
    """``"se, ca,ca"`` → ``("se", "ca")``: comma-separated, stripped, de-duplicated, order kept."""
    return tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))


def load_plugins(paths: list[Path] | None) -> None:
    if paths:
        from .plugins import load_plugins as _load

        _load(paths)


def check_format(fmt: str) -> None:
    if fmt not in report.FORMATS:
        raise UsageError(f"--format '{fmt}' is not supported; choose from: {', '.join(report.FORMATS)}.")


@app.command("list")
def list_cmd(plugins: PluginsOpt = None) -> None:
    """List attention modules and backbones, with paper, defaults and insertion slot."""
    load_plugins(plugins)
    from .api import list_attention, list_backbones

    report.show_list(list_attention(), list_backbones())


@app.command("profile")
def profile_cmd(
    module: ModuleOpt = "ca",
    backbone: BackboneOpt = "mbv2",
    width: WidthOpt = 1.0,
    input: InputOpt = 224,  # noqa: A002 - the option is --input
    batch: BatchOpt = 1,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = 1,
    csv: CsvOpt = None,
    format: FormatOpt = "table",  # noqa: A002 - the option is --format
    plugins: PluginsOpt = None,
    reduction: ReductionOpt = None,
    position: PositionOpt = None,
    repeats: RepeatsOpt = 30,
    warmup: WarmupOpt = 10,
    compile: CompileOpt = False,  # noqa: A002 - the option is --compile
    channels_last: ChannelsLastOpt = False,
    num_classes: NumClassesOpt = 1000,
    small_input: SmallInputOpt = False,
    dtype: DtypeOpt = "float32",
    latency: LatencyOpt = True,
    weights: Annotated[
        Optional[Path], typer.Option("--weights", help="The CA authors' mbv2_ca.pth, loaded into the CA model.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Measure params, MACs, element-wise ops, latency and memory of modules inside a backbone, beside the baseline."""
    from .api import build_spec, run_profile

    check_format(format)
    load_plugins(plugins)
    extra = "+".join(b for b, on in (("compile", compile), ("channels_last", channels_last)) if on)
    spec = build_spec(
        split_names(module), backbone=backbone, width=width, input_size=input, batch=batch, device=device,
        dtype=dtype, threads=threads, warmup=warmup, repeats=repeats, reduction=reduction, position=position,
        num_classes=num_classes, small_input=small_input, latency=latency, builds=("eager", extra) if extra else ("eager",),
        weights=str(weights) if weights is not None else None,
    )  # fmt: skip
    with report.status("profiling", quiet=quiet or format != "table") as progress:
        frame, warnings = run_profile(spec, csv=csv, progress=progress)
    if format == "table":
        report.show_profile(frame)
    else:
        report.write_frame(frame, format)
    for w in warnings:
        report.warn(w)
    if csv is not None:
        report.info(f"{len(frame)} rows appended to {csv}")
    failures = [(f"{r.module} ({r.build})", r.error) for r in frame.itertuples() if r.status == "failed"]
    if failures:
        raise rows_failed(failures, len(frame))


TableFormatOpt = Annotated[str, typer.Option("--format", help="table (rich, default), csv (raw numbers), md or latex.")]


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
    from . import export, tables

    if list_ or name is None:
        if name is None and not list_:
            raise UsageError(f"name a table, e.g. 'attnbench table ca-table2'; choose from: {', '.join(tables.TABLES)}.")
        report.show_table_list(list(tables.TABLES.values()))
        return
    if format not in ("table", *export.FORMATS):
        raise UsageError(f"--format '{format}' is not supported; choose from: table, {', '.join(export.FORMATS)}.")
    spec = tables.get_table(name)
    with report.status(f"measuring {name}", quiet=quiet or format != "table") as progress:
        rows = tables.measure_table(spec, latency=latency, input_size=input, progress=progress, threads=threads,
                                    repeats=repeats)  # fmt: skip
    from .env import collect_env

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
    modules_: Annotated[str, typer.Option("--modules", "-m", help="Attention modules, comma-separated.")] = "se,cbam,bam,ca",
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
    from . import export, sweep
    from .api import build_spec
    from .records import COLUMNS, as_dict, to_frame

    if format not in ("table", *export.FORMATS):
        raise UsageError(f"--format '{format}' is not supported; choose from: table, {', '.join(export.FORMATS)}.")
    if resume and csv is None:
        raise UsageError("--resume needs --csv PATH: the file whose rows are skipped.")
    load_plugins(plugins)
    specs = sweep.plan(
        build_spec, split_names(modules_), split_names(backbones), _numbers(widths, float, "--widths"),
        _numbers(inputs, int, "--inputs"), batch=batch, device=device, threads=threads, repeats=repeats, warmup=warmup,
        latency=latency,
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
    failures = [(f"{r.backbone}/{r.module} ×{r.width:g} @{r.input_size}", r.error) for r in records if r.status == "failed"]
    if failures:
        raise rows_failed(failures, len(records))


@app.command("plot")
def plot_cmd(
    csv_path: Annotated[Path, typer.Argument(help="A results CSV (profile, sweep or ablation rows).")],
    x: Annotated[str, typer.Option("--x", help="Column for the x axis.")] = "macs",
    y: Annotated[str, typer.Option("--y", help="Column for the y axis.")] = "latency_ms_median",
    out: Annotated[Optional[Path], typer.Option("--out", help="PNG to write (default: next to the CSV).")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="Label column or template, e.g. '{module} r{reduction}'.")] = None,
    maximize_y: Annotated[
        Optional[bool], typer.Option("--maximize-y/--minimize-y", help="Pareto direction of y (default: by column).")
    ] = None,
    where: Annotated[Optional[list[str]], typer.Option("--where", help="Keep rows with COLUMN=VALUE (repeatable).")] = None,
) -> None:
    """Plot two columns of a results CSV, one labelled point per model, with the Pareto front marked."""
    from .plot import plot_csv

    filters = {}
    for item in where or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise UsageError(f"--where '{item}' must look like COLUMN=VALUE, e.g. --where backbone=mbv2.")
        filters[column.strip()] = value.strip()
    path = plot_csv(csv_path, x, y, out=out, label=label, maximize_y=maximize_y, where=filters or None)
    report.info(f"wrote {path}")


baseline_app = typer.Typer(no_args_is_help=True, help="Write cost baselines for `attnbench check`.")
app.add_typer(baseline_app, name="baseline")

BaselinePathArg = Annotated[Path, typer.Argument(help="Baseline CSV file.")]
ModulesOpt = Annotated[str, typer.Option("--modules", "-m", help="Attention modules, comma-separated.")]
BackbonesOpt = Annotated[str, typer.Option("--backbones", "-b", help="Backbones, comma-separated.")]
WidthsOpt = Annotated[str, typer.Option("--widths", help="Width multipliers, comma-separated.")]
InputsOpt = Annotated[str, typer.Option("--inputs", help="Input sizes, comma-separated.")]
FromOpt = Annotated[Optional[Path], typer.Option("--from", help="Build the baseline from a profile/sweep CSV instead.")]


def _numbers(text: str, kind: type, option: str) -> list:  # type: ignore[type-arg]
    try:
        return [kind(v) for v in split_names(text)]
    except ValueError:
        raise UsageError(f"{option} '{text}' must be comma-separated numbers, e.g. {option} 1.0,0.5.") from None


@baseline_app.command("write")
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
    from . import baseline
    from .api import build_spec

    load_plugins(plugins)
    if from_csv is not None:
        rows = baseline.rows_from_profile_csv(from_csv)
    else:
        specs = [
            build_spec(split_names(modules_), backbone=b, width=w, input_size=i, batch=batch, threads=threads,
                       repeats=repeats, warmup=warmup, latency=latency, memory=False)
            for b in split_names(backbones) for w in _numbers(widths, float, "--widths")
            for i in _numbers(inputs, int, "--inputs")
        ]  # fmt: skip
        with report.status("measuring", quiet=quiet) as progress:
            rows = baseline.measure(specs, progress)
    baseline.write_baseline(path, rows)
    report.info(f"{len(rows)} rows written to {path}")


@app.command("check")
def check_cmd(
    path: BaselinePathArg,
    latency_tolerance: Annotated[str, typer.Option("--latency-tolerance", help="Allowed latency-ratio growth.")] = "10%",
    only: Annotated[Optional[str], typer.Option("--only", help="Metrics to check: params,macs,elementwise_ops,latency.")] = None,
    format: FormatOpt = "table",  # noqa: A002 - the option is --format
    github: Annotated[bool, typer.Option("--github", help="Also print GitHub Actions annotations.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Compare latency across torch versions and devices.")] = False,
    accept: Annotated[bool, typer.Option("--accept", help="Rewrite the baseline with the new measurements.")] = False,
    repeats: RepeatsOpt = 30,
    warmup: WarmupOpt = 10,
    plugins: PluginsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Re-measure every row of a baseline; exit 1 on a regression or a changed count, 2 on bad input."""
    from . import baseline

    if format not in ("table", "json"):
        raise UsageError(f"--format '{format}' is not supported by check; choose table or json.")
    load_plugins(plugins)
    tolerance, metrics = baseline.parse_tolerance(latency_tolerance), baseline.parse_metrics(only)
    old = baseline.read_baseline(path)
    specs = baseline.specs_for(old, latency="latency" in metrics or accept, repeats=repeats, warmup=warmup)
    with report.status("re-measuring", quiet=quiet or format != "table") as progress:
        new = baseline.measure(specs, progress)
    result = baseline.compare(old, new, metrics, tolerance, force)
    if accept:
        baseline.write_baseline(path, new)
    report.show_check(result, path, format, github, accepted=accept)
    if result.failures and not accept:
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every user error to one line and an exit code."""
    debug = os.environ.get("ATTNBENCH_DEBUG") == "1"
    try:
        code = app(args=argv, prog_name="attnbench", standalone_mode=False)
    except AttnbenchError as exc:
        if debug:
            raise
        report.error(str(exc), hint="Set ATTNBENCH_DEBUG=1 for the traceback.")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        report.interrupted()
        sys.exit(130)
    except Exception as exc:
        # Typer's parse errors (unknown option, bad number) carry format_message and exit_code.
        if debug or not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        cmd = ctx.command_path if ctx is not None else "attnbench"
        report.error(f"{exc.format_message()} (see '{cmd} --help')")
        sys.exit(int(exc.exit_code))
    if code == 130:
        report.interrupted()
    sys.exit(code or 0)
