"""`attnbench sweep`: a grid of profile runs, each finished configuration appended to the CSV at once."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError, rows_failed
from . import render
from .options import (
    BackbonesOpt,
    CsvOpt,
    ExportCsvOpt,
    ExportJsonOpt,
    ExportMdOpt,
    Exports,
    FormatOpt,
    HeadOpt,
    HeadSlotsOpt,
    InputsOpt,
    LatencyOpt,
    Measurement,
    ModulesOpt,
    NumClassesOpt,
    OutputStrideOpt,
    PluginsOpt,
    QuietOpt,
    WidthsOpt,
    load_plugins,
    measurement_options,
    nonempty,
    parse_inputs,
    parse_numbers,
    split_names,
)


@measurement_options()
def sweep_cmd(
    modules_: ModulesOpt = "se,cbam,bam,ca",
    backbones: BackbonesOpt = "mbv2",
    widths: WidthsOpt = "1.0",
    inputs: InputsOpt = "224",
    head: HeadOpt = None,
    output_stride: OutputStrideOpt = None,
    head_slots: HeadSlotsOpt = None,
    num_classes: NumClassesOpt = None,
    latency: LatencyOpt = True,
    csv: CsvOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip rows already in --csv.")] = False,
    format: FormatOpt = "csv",
    plugins: PluginsOpt = None,
    quiet: QuietOpt = False,
    export_csv: ExportCsvOpt = None,
    export_json: ExportJsonOpt = None,
    export_md: ExportMdOpt = None,
    *,
    measure: Measurement,
) -> None:
    """Profile a grid of modules × backbones × widths × inputs, appending each finished configuration to --csv."""
    from ..api import build_spec
    from ..cost import sweep
    from ..cost.records import COLUMNS, as_dict, to_frame
    from ..io.csvfile import csv_text

    if resume and csv is None:
        raise UsageError("--resume needs --csv PATH: the file whose rows are skipped.")
    exports = Exports(export_csv, export_json, export_md)
    exports.check(appended=csv)
    load_plugins(plugins)
    specs = sweep.plan(
        build_spec,
        nonempty(split_names(modules_), "--modules", modules_, "se,ca"),
        nonempty(split_names(backbones), "--backbones", backbones, "mbv2"),
        nonempty(parse_numbers(widths, float, "--widths"), "--widths", widths, "1.0,0.5"),
        parse_inputs(inputs),
        latency=latency,
        head=head,
        output_stride=output_stride,
        head_slots=head_slots,
        num_classes=num_classes,
        **measure.spec_fields(),
    )
    if csv is not None:
        from ..cost.records import upgrade
        from ..io.csvfile import check_target

        upgrade(csv)  # a file written before some of the columns gets them, its rows kept
        check_target(csv, COLUMNS)  # before the progress bar: a refused file is the only line
    records, warnings = [], []
    try:
        with render.progress_bar(len(specs), "sweep", quiet=quiet) as progress:
            for rows, group_warnings in sweep.run(specs, csv, resume, progress):
                records.extend(rows)
                warnings.extend(w for w in group_warnings if w not in warnings)
    except KeyboardInterrupt:
        if csv is not None:
            done = f"the {len(records)} row(s) of finished configurations are in {csv}"
            nothing = f"no configuration had finished, nothing was appended to {csv}"
            render.on_interrupt(f"{done if records else nothing}; rerun with --resume to finish.")
        else:  # nothing was written anywhere: what finished is printed, as the run would have printed it
            if records and format == "table":
                render.show_profile(to_frame(records))
            elif records:
                rows_csv = csv_text(COLUMNS, [as_dict(r) for r in records])
                render.write_text(rows_csv if format == "csv" else render.rows_text(to_frame(records), format, ""))
            done = f"the {len(records)} row(s) of finished configurations are printed above" if records else ""
            render.on_interrupt(f"{done or 'no configuration had finished'}; nothing was written (no --csv).")
        raise
    if resume and not records:
        planned = sum(len(s.names) * len(s.builds) for s in specs)
        written = "; no --export-* file written (they hold what this run measured)" if exports.targets() else ""
        render.info(f"nothing to measure: all {planned} rows are already in {csv}{written}")
        return
    frame = to_frame(records)

    def text(fmt: str) -> str:
        if fmt == "csv":
            return csv_text(COLUMNS, [as_dict(r) for r in records])
        return render.rows_text(frame, fmt, title="attnbench sweep")

    if format == "table":
        render.show_profile(frame)
    else:
        render.write_text(text(format))
    if not quiet:
        for w in warnings:
            render.warn(w)
    if csv is not None:
        render.info(f"{len(records)} rows appended to {csv}")
    exports.write(text)
    failures = [
        (f"{r.backbone}/{r.module} ×{r.width:g} @{r.input_size}", r.error) for r in records if r.status == "failed"
    ]
    if failures:
        raise rows_failed(failures, len(records))
