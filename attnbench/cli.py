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
from .errors import AttnbenchError, UsageError

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
ModulesOpt = Annotated[str, typer.Option("--modules", "-m", help="Attention modules, comma-separated.")]
BackbonesOpt = Annotated[str, typer.Option("--backbones", "-b", help="Backbones, comma-separated.")]
WidthsOpt = Annotated[str, typer.Option("--widths", help="Width multipliers, comma-separated.")]
InputsOpt = Annotated[str, typer.Option("--inputs", help="Input sizes, comma-separated.")]
TableFormatOpt = Annotated[str, typer.Option("--format", help="table (rich, default), csv (raw numbers), md or latex.")]


def split_names(value: str) -> tuple[str, ...]:
    """``"se, ca,ca"`` → ``("se", "ca")``: comma-separated, stripped, de-duplicated, order kept."""
    return tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))


def load_plugins(paths: list[Path] | None) -> None:
    if paths:
        from .plugins import load_plugins as _load

        _load(paths)


def parse_numbers(text: str, kind: type, option: str) -> list:  # type: ignore[type-arg]
    try:
        return [kind(v) for v in split_names(text)]
    except ValueError:
        raise UsageError(f"{option} '{text}' must be comma-separated numbers, e.g. {option} 1.0,0.5.") from None


def check_format(fmt: str) -> None:
    if fmt not in report.FORMATS:
        raise UsageError(f"--format '{fmt}' is not supported; choose from: {', '.join(report.FORMATS)}.")


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


# The commands register themselves on ``app``; imported last, after the shared aliases above exist.
from .commands import profile, tables, check  # noqa: E402,F401,I001 - the order is the help's order
from .ablate_cli import ablate_cmd  # noqa: E402

app.command("ablate")(ablate_cmd)
