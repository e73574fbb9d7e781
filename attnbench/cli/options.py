"""Shared option aliases and small parsers of the CLI: a leaf module (it imports no command and no app).

Each alias declares an option's flags and help text once; every command that takes the option uses the alias.
The measurement options (device, dtype, batch, threads, model slot and the timing loop) are declared once as a
group, ``MEASUREMENT``, and added to a command by ``measurement_options``: the command receives them as one
``measure: Measurement`` argument, so ``profile``, ``sweep``, ``table`` and ``baseline write`` take the same
options with the same defaults.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from ..errors import UsageError

MEASURE_PANEL = "Measurement"
EXPORT_PANEL = "Exports"

ModuleOpt = Annotated[
    str, typer.Option("--module", "-m", help="Attention module(s), comma-separated; see `attnbench list`.")
]
BackboneOpt = Annotated[str, typer.Option("--backbone", "-b", help="Backbone: mbv2, mnext, r18, r50.")]
WidthOpt = Annotated[float, typer.Option("--width", help="Channel width multiplier.")]
InputOpt = Annotated[
    str, typer.Option("--input", help="Input size in pixels: one side (224) or HEIGHTxWIDTH (1024x2048).")
]
HeadOpt = Annotated[
    str | None,
    typer.Option(
        "--head",
        help="A dense head on the backbone: ssdlite, ssdlite_voc (detection), deeplabv3, lraspp "
        "(segmentation); see `attnbench list`.",
        show_default="none: the classification network",
    ),
]
OutputStrideOpt = Annotated[
    int | None,
    typer.Option(
        "--output-stride",
        help="Backbone output stride under a segmentation head: 16 or 8.",
        show_default="the head's (16)",
    ),
]
HeadSlotsOpt = Annotated[
    str | None,
    typer.Option(
        "--head-slots",
        help="Where attention goes under a head: backbone+extras (also the head's extra blocks) or backbone.",
        show_default="the head's (SSDLite: backbone+extras)",
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch", help="Batch size.", rich_help_panel=MEASURE_PANEL)]
DeviceOpt = Annotated[
    str,
    typer.Option("--device", help="cpu, cuda or cuda:N. Never falls back to another.", rich_help_panel=MEASURE_PANEL),
]
ThreadsOpt = Annotated[
    int,
    typer.Option("--threads", help="CPU intra-op threads used for timing (recorded).", rich_help_panel=MEASURE_PANEL),
]
CsvOpt = Annotated[
    Path | None, typer.Option("--csv", help="Append result rows to this CSV (header checked, never overwritten).")
]
Format = Literal["table", "csv", "json", "md", "latex"]
"""What ``--format`` takes on commands that print result rows (Typer refuses anything else, naming the choices)."""
FormatOpt = Annotated[
    Format, typer.Option("--format", help="Output on stdout: table (rich), csv or json (raw numbers), md or latex.")
]
PluginsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--plugins", help="Python file or folder registering extra modules (executed as code).", show_default="none"
    ),
]
ReductionOpt = Annotated[
    int | None,
    typer.Option(
        "--reduction",
        "-r",
        help="Reduction ratio r of every module.",
        show_default="each module's own",
        rich_help_panel=MEASURE_PANEL,
    ),
]
MatchParamsOpt = Annotated[
    bool,
    typer.Option(
        "--match-params",
        help="Choose each module's r so that its parameters come closest to the backbone's own attention modules "
        "(MobileNetV3's and EfficientNet's SE); recorded in the reduction_rule column.",
        rich_help_panel=MEASURE_PANEL,
    ),
]
PositionOpt = Annotated[
    str | None,
    typer.Option(
        "--position",
        help="Insertion slot (see `attnbench list`), or 'stage'.",
        show_default="the backbone's first slot; stage modules at stages",
        rich_help_panel=MEASURE_PANEL,
    ),
]
RepeatsOpt = Annotated[
    int,
    typer.Option(
        "--repeats",
        help="Timed samples per model, at least (more until --precision is met; fewer, down to 6, "
        "only when --max-time runs out first).",
        rich_help_panel=MEASURE_PANEL,
    ),
]
WarmupOpt = Annotated[
    int,
    typer.Option(
        "--warmup",
        help="Untimed calls before sampling (stopping after 2 s once two are done).",
        rich_help_panel=MEASURE_PANEL,
    ),
]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        "--precision",
        help="Target half-width of every Δlatency's 95 % interval, in percentage points: rounds are added "
        "until it is met or --max-time runs out.",
        rich_help_panel=MEASURE_PANEL,
    ),
]
WarmCallsOpt = Annotated[
    int,
    typer.Option(
        "--warm-calls",
        help="Untimed calls of a model right before each of its timed samples, so each sample finds "
        "the caches as a repeated call does (0: cold samples, each right after another model ran).",
        rich_help_panel=MEASURE_PANEL,
    ),
]
MaxTimeOpt = Annotated[
    float,
    typer.Option(
        "--max-time",
        help="Seconds of timing after which no round is added (0: exactly --repeats samples).",
        rich_help_panel=MEASURE_PANEL,
    ),
]
CompileOpt = Annotated[
    bool,
    typer.Option("--compile", help="Add rows for a torch.compile build (the same as adding compile to --runtime)."),
]
RuntimeOpt = Annotated[
    str,
    typer.Option(
        "--runtime",
        help="Runtimes to time on, comma-separated: eager, compile, onnxruntime, openvino, onnxruntime-cuda "
        "(see `attnbench list --runtimes`). Every Δ is against the baseline on the same runtime.",
        rich_help_panel=MEASURE_PANEL,
    ),
]
QuantizeOpt = Annotated[
    str,
    typer.Option(
        "--quantize",
        help="none, or int8: static int8 quantization calibrated on synthetic images (onnxruntime, openvino).",
        rich_help_panel=MEASURE_PANEL,
    ),
]
ChannelsLastOpt = Annotated[bool, typer.Option("--channels-last", help="Add rows for a channels_last build.")]
NumClassesOpt = Annotated[
    int | None,
    typer.Option(
        "--num-classes",
        help="Classifier or head outputs.",
        show_default="1000; a head's own: 81 for ssdlite, 21 for the others",
    ),
]
SmallInputOpt = Annotated[
    bool,
    typer.Option("--small-input", help="No early downsampling (32-64 px inputs).", rich_help_panel=MEASURE_PANEL),
]
DtypeOpt = Annotated[
    Literal["float32", "bfloat16", "float16"],
    typer.Option("--dtype", help="float16 needs --device cuda.", rich_help_panel=MEASURE_PANEL),
]
ModeOpt = Annotated[
    Literal["inference", "train"],
    typer.Option(
        "--mode",
        help="What latency times: inference (forward) or train (forward + backward, no optimizer step).",
        rich_help_panel=MEASURE_PANEL,
    ),
]
LatencyOpt = Annotated[bool, typer.Option("--latency/--no-latency", help="Time the models (counts are always made).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no precision warnings on stderr.")]
ExportCsvOpt = Annotated[
    Path | None,
    typer.Option(
        "--export-csv",
        help="Also write the rows as CSV to this file (replaced atomically).",
        rich_help_panel=EXPORT_PANEL,
    ),
]
ExportJsonOpt = Annotated[
    Path | None,
    typer.Option(
        "--export-json",
        help="Also write the rows as JSON (as --format json) to this file.",
        rich_help_panel=EXPORT_PANEL,
    ),
]
ExportMdOpt = Annotated[
    Path | None,
    typer.Option(
        "--export-md", help="Also write the Markdown table (as --format md) to this file.", rich_help_panel=EXPORT_PANEL
    ),
]
ModulesOpt = Annotated[str, typer.Option("--modules", "-m", help="Attention modules, comma-separated.")]
BackbonesOpt = Annotated[str, typer.Option("--backbones", "-b", help="Backbones, comma-separated.")]
WidthsOpt = Annotated[str, typer.Option("--widths", help="Width multipliers, comma-separated.")]
InputsOpt = Annotated[
    str, typer.Option("--inputs", help="Input sizes, comma-separated: one side (224) or HEIGHTxWIDTH (1024x2048).")
]


@dataclass(frozen=True)
class Measurement:
    """The measurement options of one command line, as given (``precision`` still text)."""

    device: str = "cpu"
    dtype: str = "float32"
    batch: int = 1
    threads: int = 1
    reduction: int | None = None
    match_params: bool = False
    position: str | None = None
    small_input: bool = False
    repeats: int = 30
    warmup: int = 10
    precision: str = "2%"
    max_time: float = 60.0
    warm_calls: int = 1
    runtime: str = "eager"
    quantize: str = "none"
    mode: str = "inference"

    def spec_fields(self) -> dict[str, Any]:
        """``ProfileSpec`` fields, ``precision`` parsed and ``runtime`` split into ``builds``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["precision"] = parse_precision(self.precision)
        out["builds"] = nonempty(split_names(out.pop("runtime")), "--runtime", self.runtime, "eager,onnxruntime")
        return out


MEASUREMENT: dict[str, Any] = {
    "device": DeviceOpt,
    "dtype": DtypeOpt,
    "batch": BatchOpt,
    "threads": ThreadsOpt,
    "reduction": ReductionOpt,
    "match_params": MatchParamsOpt,
    "position": PositionOpt,
    "small_input": SmallInputOpt,
    "repeats": RepeatsOpt,
    "warmup": WarmupOpt,
    "precision": PrecisionOpt,
    "max_time": MaxTimeOpt,
    "warm_calls": WarmCallsOpt,
    "runtime": RuntimeOpt,
    "quantize": QuantizeOpt,
    "mode": ModeOpt,
}
"""Each measurement option's alias; its default is ``Measurement``'s."""
TIMING = ("repeats", "warmup", "precision", "max_time", "warm_calls")
"""The options of the timing loop alone (``check`` takes the rest from the baseline file)."""

F = TypeVar("F", bound=Callable[..., Any])


def measurement_options(only: tuple[str, ...] | None = None, omit: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Add the measurement options (``only`` those, less ``omit``) to a command, after its own options.

    The command declares a ``measure: Measurement`` parameter instead; Typer sees the options themselves.
    """
    names = [n for n in MEASUREMENT if (only is None or n in only) and n not in omit]
    defaults = Measurement()

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "measure"]
        added = [
            inspect.Parameter(
                n, inspect.Parameter.KEYWORD_ONLY, default=getattr(defaults, n), annotation=MEASUREMENT[n]
            )
            for n in names
        ]

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {n: kwargs.pop(n) for n in names if n in kwargs}
            return fn(*args, measure=Measurement(**given), **kwargs)

        params = [*own, *added]
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command  # type: ignore[return-value]

    return decorate


@dataclass(frozen=True)
class Exports:
    """The ``--export-*`` files of one command line: each gets the output ``--format`` of its name would print."""

    csv: Path | None = None
    json: Path | None = None
    md: Path | None = None

    def targets(self) -> list[tuple[str, str, Path]]:
        """``(format, option, path)`` of every file asked for."""
        given = (
            ("csv", "--export-csv", self.csv),
            ("json", "--export-json", self.json),
            ("md", "--export-md", self.md),
        )
        return [(fmt, option, path) for fmt, option, path in given if path is not None]

    def check(self, appended: Path | None = None) -> None:
        """Refuse, before anything is measured, a path no file can be written to (a folder, a missing folder, a
        symbolic link), one path given twice, and the ``--csv`` file (``appended``), which is appended to."""
        import os

        from ..io.csvfile import check_path

        seen: dict[str, str] = {} if appended is None else {os.path.abspath(appended): "--csv"}
        for _, option, path in self.targets():
            check_path(path, option)
            other = seen.setdefault(os.path.abspath(path), option)
            if other != option:
                raise UsageError(f"{option} '{path}' is also the {other} file; give each output its own path.")

    def write(self, text: Callable[[str], str]) -> None:
        """Write every file asked for, ``text(format)`` in each (see ``io.export.write_files``)."""
        if self.targets():
            from ..io.export import write_files

            write_files([(option, path, text(fmt)) for fmt, option, path in self.targets()])


def parse_precision(text: str) -> float:
    """``"2%"`` or ``"0.02"`` → 0.02 (a fraction of the ratio)."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value < 1):
        raise UsageError(f"--precision '{text}' is not a precision; use a percentage above 0 and below 100, e.g. 2%.")
    return value


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


def parse_input(text: str, option: str = "--input") -> Any:
    """``"224"`` → 224, ``"1024x2048"`` → (1024, 2048); anything else is one ``Error:`` line."""
    from ..cost.shape import parse_input_size

    try:
        return parse_input_size(text)
    except ValueError as exc:
        raise UsageError(f"{option} {exc}.") from None


def parse_inputs(text: str, option: str = "--inputs") -> list[Any]:
    """``"224,1024x2048"`` → ``[224, (1024, 2048)]``, de-duplicated, order kept."""
    sizes = [parse_input(v, option) for v in split_names(text)]
    return nonempty(list(dict.fromkeys(sizes)), option, text, "224,1024x2048")


def nonempty(values: tuple | list, option: str, text: str, example: str) -> tuple | list:  # type: ignore[type-arg]
    """``values`` parsed from ``option``'s ``text``; an empty list (``--inputs ''``) is one line, exit 2."""
    if not values:
        raise UsageError(f"{option} '{text}' names nothing; give at least one, e.g. {option} {example}.")
    return values
