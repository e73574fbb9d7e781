"""`attnbench list` and `attnbench profile`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import rows_failed
from . import render
from .options import (
    BackboneOpt,
    ChannelsLastOpt,
    CompileOpt,
    CsvOpt,
    ExportCsvOpt,
    ExportJsonOpt,
    ExportMdOpt,
    Exports,
    FormatOpt,
    HeadOpt,
    HeadSlotsOpt,
    InputOpt,
    LatencyOpt,
    Measurement,
    ModuleOpt,
    NumClassesOpt,
    OutputStrideOpt,
    PluginsOpt,
    QuietOpt,
    WidthOpt,
    load_plugins,
    measurement_options,
    parse_input,
    split_names,
)


def list_cmd(
    plugins: PluginsOpt = None,
    runtimes: Annotated[
        bool, typer.Option("--runtimes", help="List the runtimes instead: installed or not, version, extra.")
    ] = False,
) -> None:
    """List attention modules and backbones, with paper, defaults and insertion slot (or the runtimes)."""
    load_plugins(plugins)
    from ..api import list_attention, list_backbones, list_heads, list_runtimes

    if runtimes:
        render.show_runtimes(list_runtimes())
        return
    render.show_list(list_attention(), list_backbones(), heads=list_heads())


@measurement_options()
def profile_cmd(
    module: ModuleOpt = "ca",
    backbone: BackboneOpt = "mbv2",
    width: WidthOpt = 1.0,
    input: InputOpt = "224",
    head: HeadOpt = None,
    output_stride: OutputStrideOpt = None,
    head_slots: HeadSlotsOpt = None,
    csv: CsvOpt = None,
    format: FormatOpt = "table",
    plugins: PluginsOpt = None,
    compile: CompileOpt = False,
    channels_last: ChannelsLastOpt = False,
    num_classes: NumClassesOpt = None,
    latency: LatencyOpt = True,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="The CA authors' mbv2_ca.pth, loaded into the CA model.")
    ] = None,
    quiet: QuietOpt = False,
    export_csv: ExportCsvOpt = None,
    export_json: ExportJsonOpt = None,
    export_md: ExportMdOpt = None,
    *,
    measure: Measurement,
) -> None:
    """Measure params, MACs, element-wise ops, latency and memory of modules inside a backbone, beside the baseline."""
    from ..api import build_spec, run_profile

    exports = Exports(export_csv, export_json, export_md)
    exports.check(appended=csv)  # every path is refused or accepted before anything is measured
    load_plugins(plugins)
    fields = measure.spec_fields()
    extra = "+".join(b for b, on in (("compile", compile), ("channels_last", channels_last)) if on)
    builds = tuple(dict.fromkeys((*fields.pop("builds"), *((extra,) if extra else ()))))
    spec = build_spec(
        split_names(module),
        backbone=backbone,
        width=width,
        input_size=parse_input(input),
        num_classes=num_classes,
        head=head,
        output_stride=output_stride,
        head_slots=head_slots,
        latency=latency,
        builds=builds,
        weights=str(weights) if weights is not None else None,
        **fields,
    )
    try:
        with render.status("profiling", quiet=quiet or format != "table") as progress:
            frame, warnings = run_profile(spec, csv=csv, progress=progress)
    except KeyboardInterrupt as exc:
        _interrupted(exc, format, csv)
        raise
    render.show_rows(frame, format, title="attnbench profile")
    if not quiet:
        for w in warnings:
            render.warn(w)
    if csv is not None:
        render.info(f"{len(frame)} rows appended to {csv}")
    exports.write(lambda fmt: render.rows_text(frame, fmt, title="attnbench profile"))
    failures = [(f"{r.module} ({r.build})", r.error) for r in frame.itertuples() if r.status == "failed"]
    if failures:
        raise rows_failed(failures, len(frame))


def _interrupted(exc: KeyboardInterrupt, format: str, csv: Path | None) -> None:
    """Ctrl-C or SIGTERM: print the counts already made (``runner.profile`` attaches them) and say what was written."""
    from ..cost.records import to_frame

    measured = getattr(exc, "measured", ())
    written = getattr(exc, "written", 0)
    if measured:
        render.show_rows(to_frame(measured), format, title="attnbench profile (interrupted: counts only)")
    shown = f"the counts of {len(measured)} row(s) are printed above, without latency" if measured else ""
    if csv is None:
        kept = "nothing was written (no --csv)"
    else:
        kept = f"{written} row(s) appended to {csv} are kept" if written else f"nothing was appended to {csv}"
    render.on_interrupt(f"{shown}; {kept}." if shown else f"nothing had been measured yet; {kept}.")
