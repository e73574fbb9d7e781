"""Shared option aliases and small parsers of the CLI: a leaf module (it imports no command and no app).

Each alias declares an option's flags and help text once; every command that takes the option uses the alias.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError

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
    Path | None, typer.Option("--csv", help="Append result rows to this CSV (header checked, never overwritten).")
]
FormatOpt = Annotated[str, typer.Option("--format", help="table (rich, default), csv or json on stdout.")]
PluginsOpt = Annotated[
    list[Path] | None,
    typer.Option("--plugins", help="Python file or folder registering extra modules (executed as code)."),
]
ReductionOpt = Annotated[int | None, typer.Option("--reduction", "-r", help="Reduction ratio r of every module.")]
PositionOpt = Annotated[
    str | None, typer.Option("--position", help="Insertion slot (see `attnbench list`), or 'stage'.")
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
ModulesOpt = Annotated[str, typer.Option("--modules", "-m", help="Attention modules, comma-separated.")]
BackbonesOpt = Annotated[str, typer.Option("--backbones", "-b", help="Backbones, comma-separated.")]
WidthsOpt = Annotated[str, typer.Option("--widths", help="Width multipliers, comma-separated.")]
InputsOpt = Annotated[str, typer.Option("--inputs", help="Input sizes, comma-separated.")]
TableFormatOpt = Annotated[str, typer.Option("--format", help="table (rich, default), csv (raw numbers), md or latex.")]


FORMATS = ("table", "csv", "json")
"""What ``--format`` takes on commands that print result rows."""


def split_names(value: str) -> tuple[str, ...]:
    """``"se, ca,ca"`` → ``("se", "ca")``: comma-separated, stripped, de-duplicated, order kept."""
    return tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))


def load_plugins(paths: list[Path] | None) -> None:
    if paths:
        from ..plugins import load_plugins as _load

        _load(paths)


def parse_numbers(text: str, kind: type, option: str) -> list:  # type: ignore[type-arg]
    try:
        return [kind(v) for v in split_names(text)]
    except ValueError:
        example = "224,160" if kind is int else "1.0,0.5"
        raise UsageError(f"{option} '{text}' must be comma-separated numbers, e.g. {option} {example}.") from None


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format '{fmt}' is not supported; choose from: {', '.join(FORMATS)}.")


def nonempty(values: tuple | list, option: str, text: str, example: str) -> tuple | list:  # type: ignore[type-arg]
    """``values`` parsed from ``option``'s ``text``; an empty list (``--inputs ''``) is one line, exit 2."""
    if not values:
        raise UsageError(f"{option} '{text}' names nothing; give at least one, e.g. {option} {example}.")
    return values
