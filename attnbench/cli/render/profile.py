"""``profile``, ``sweep`` and ``list``: the result rows as a table, their summary lines, and ``--format``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ...cost import BASELINE
from ...cost.records import SETTING_KEY
from .cells import delta_latency, latency, millions, missing, signed_millions, with_delta
from .console import fitted, info, screen_width, stdout, write_text

if TYPE_CHECKING:
    import pandas as pd


KEY_LABELS = {
    "output_stride": "OS",
    "input_size": "input",
    "quantize": "quant",
    "head_classes": "classes",
    "head_slots": "slots",
}


"""Column headings of the key columns whose names are long; the others show as named."""


def profile_cells(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Display columns and cells of profile/sweep rows (shared by the rich table and the Markdown/LaTeX exports)."""
    varying = [c for c in SETTING_KEY if c in frame and frame[c].nunique(dropna=False) > 1]
    columns = [
        "module",
        *[KEY_LABELS.get(c, c) for c in varying],
        "slot",
        "r",
        "n",
        "params M (Δ)",
        "MACs M (Δ)",
        "elem-ops M (Δ)",
        "latency ms",
        "Δlat",
        "img/s",
        "mem MB",
    ]
    checked = "max_abs_diff" in frame and bool((frame["build"] != "eager").any())
    agreed = "top1_agreement" in frame and bool(frame["top1_agreement"].notna().any())
    columns += [*(["max|Δout|"] if checked else []), *(["top-1 agree"] if agreed else [])]
    cells = []
    for _, r in frame.iterrows():
        base = r["module"] == BASELINE
        if r["status"] == "failed":
            cells.append([r["module"], *[cell(r, c) for c in varying], f"failed: {r['error']}"])
            cells[-1] += [""] * (len(columns) - len(cells[-1]))
            continue
        extra = [*([_sci(r["max_abs_diff"])] if checked else []), *([_share(r["top1_agreement"])] if agreed else [])]
        cells.append(
            [
                r["module"],
                *[cell(r, c) for c in varying],
                r["position"] or "–",
                reduction_text(r["reduction"], r.get("reduction_rule", "")),
                str(r["attn_count"]),
                with_delta(r["params"], r["d_params"], base, 3),
                with_delta(r["macs"], r["d_macs"], base, 1),
                with_delta(r["elementwise_ops"], r["d_elementwise_ops"], base, 1),
                latency(r["latency_ms_median"], r["latency_ms_iqr"]),
                ""
                if base
                else delta_latency(r["d_latency_pct"], r["d_latency_pct_ci_low"], r["d_latency_pct_ci_high"]),
                "–" if missing(r["throughput_ips"]) else f"{r['throughput_ips']:.1f}",
                millions(r["peak_mem_bytes"], 1),
                *extra,
            ]
        )
    return columns, cells


def reduction_text(reduction: Any, rule: Any) -> str:
    """``32`` (the module's own r), ``24 given``, ``11 matched``, ``4 native``; ``–`` without an r."""
    if missing(reduction):
        return "–" if missing(rule) or rule in ("", "default") else str(rule)
    marked = "" if missing(rule) or rule in ("", "default") else f" {rule}"
    return f"{int(reduction)}{marked}"


def cell(r: Any, column: str) -> str:
    """A configuration cell of a profile row: the width as the papers write it, ``–`` for an empty one."""
    if missing(r[column]) or r[column] == "":
        return "–"
    return f"{r[column]:g}" if column == "width" else str(r[column])


def _sci(value: Any) -> str:
    return "–" if missing(value) else f"{float(value):.2g}"


def _share(value: Any) -> str:
    return "–" if missing(value) else f"{100 * float(value):.1f}%"


PROFILE_LEGEND = (
    "r = reduction ratio: the module's own unless marked given (--reduction), matched (--match-params: attention "
    "params closest to the backbone's own modules) or native (the backbone's own module); "
    "n = attention modules inserted; elem-ops = element-wise ops (pooling, gates, activations, broadcast products, "
    "BN); Δ against the 'none' row of the same configuration. latency ms: median ± IQR of the samples. "
    "Δlat: median of the per-round latency ratios to 'none', −1, with its 95 % confidence interval [low, high] in %."
)


def show_profile(frame: pd.DataFrame, console: Console = stdout) -> None:
    """The profile table: one row per model and build, Δ against the baseline of the same build.

    When it is wider than the screen (``screen_width``: 80 columns when piped) it is printed as two compact tables,
    counts and then timing and memory, and the legend and summary are wrapped at word boundaries.
    """
    first = frame.iloc[0]
    title = (
        f"{first['backbone']}{head_label(first)} {width_label(first['width'])} @ {first['input_size']} px, "
        f"batch {first['batch']}, "
        f"{first['device']} ({first['device_name']}), {first['dtype']}, {first['threads']} thread(s)"
        + (", training step (forward + backward)" if first.get("mode") == "train" else "")
    )
    width = screen_width(console)
    columns, cells = profile_cells(frame)
    cells = [[escape(c) for c in row] for row in cells]
    keys = columns[: columns.index("slot")]
    split = columns.index("latency ms")
    parts = [columns[:split], [*keys, *columns[split:]]]
    for table in fitted(title, columns, cells, parts, width, console, ("module", "backbone", "build", "slot")):
        console.print(table, width=width)
    console.print(PROFILE_LEGEND, style="dim", markup=False, width=width)
    for line in summary_lines(frame):
        console.print(line, markup=False, width=width)


def width_label(width: float) -> str:
    """``1.0`` → ``width 1.0``, ``0.35`` → ``width 0.35``: the multiplier as the papers write it."""
    return f"width {width:.1f}" if float(width).is_integer() else f"width {width:g}"


def head_label(r: Any) -> str:
    """`` + deeplabv3 (OS 8, 21 classes)`` for a row with a dense head (with ``, attention also in the extras``
    where it is), empty for a classification row."""
    head = r.get("head") if hasattr(r, "get") else None
    if missing(head) or not head:
        return ""
    parts = [f"OS {int(r['output_stride'])}"] if not missing(r.get("output_stride")) else []
    if not missing(r.get("head_classes")):
        parts.append(f"{int(r['head_classes'])} classes")
    if r.get("head_slots") == "backbone+extras":
        parts.append("attention also in the extras")
    return f" + {head} ({', '.join(parts)})"


def _config_label(r: Any) -> str:
    extra = "".join(
        f" {fmt(r[c])}"
        for c, fmt in (("width", width_label), ("input_size", "@{}".format))
        if c in r and r[c] is not None
    )
    return f"{r['backbone']}{head_label(r)}{extra}"


def summary_lines(frame: pd.DataFrame) -> list[str]:
    """One hyperfine-style line per module: what it adds over the baseline."""
    lines = []
    config = [c for c in SETTING_KEY if c in frame]
    for _, group in frame[frame["status"] != "failed"].groupby(config, sort=False, dropna=False):
        if not (group["module"] == BASELINE).any():
            continue
        base = group[group["module"] == BASELINE].iloc[0]
        build = base["build"]
        for _, r in group[group["module"] != BASELINE].iterrows():
            ci = [r.get("d_latency_pct_ci_low"), r.get("d_latency_pct_ci_high")]
            lat = (
                ""
                if missing(r["d_latency_pct"])
                else (
                    f", latency {delta_latency(r['d_latency_pct'], *ci)} ({r['latency_ms_median']:.3f} vs "
                    f"{base['latency_ms_median']:.3f} ms)"
                )
            )
            quant = base.get("quantize", "none")
            where = f" ({build}{', ' + quant if quant not in ('none', '') else ''})" if build != "eager" else ""
            lines.append(
                f"{r['module']}{where}: {signed_millions(r['d_params'])}M params, {signed_millions(r['d_macs'], 2)}M MACs, "
                f"{signed_millions(r['d_elementwise_ops'], 2)}M element-wise ops over {_config_label(r)}{lat}"
            )
    return lines


def _defaults_text(defaults: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" if not isinstance(v, str) else f"{k}={v}" for k, v in defaults.items())


def _widths_text(lo: Any, hi: Any) -> str:
    return "–" if lo is None or hi is None else f"{lo:g}–{hi:g}"


def show_list(
    attention: list[dict[str, Any]],
    backbones: list[dict[str, Any]],
    console: Console = stdout,
    heads: list[dict[str, Any]] | None = None,
) -> None:
    """The registry (``api.list_attention``/``list_backbones``/``list_heads``, plain values) as tables: paper,
    defaults and insertion slots."""
    attention_rows = [
        {
            "name": a["name"],
            "paper": a["paper"],
            "arxiv": a["arxiv"],
            "slot": "stage boundary" if a["hook"] == "stage" else "in block",
            "variant": a["variant"],
            "defaults": _defaults_text(a["defaults"]),
        }
        for a in attention
    ]
    backbone_rows = [
        {
            "name": b["name"],
            "paper": b["paper"],
            "arxiv": b["arxiv"],
            "in-block slots (default first)": ", ".join(b["positions"]),
            "stage slot": b["stage_slot"],
            "widths": _widths_text(b["width_min"], b["width_max"]),
            "own attention (kept by se)": b["own_attention"],
        }
        for b in backbones
    ]
    head_rows = [
        {
            "name": h["name"],
            "task": h["task"],
            "paper": h["paper"],
            "arxiv": h["arxiv"],
            "variant": h["variant"],
            "backbones": ", ".join(h["backbones"]),
            "output stride": " or ".join(map(str, h["output_strides"])),
            "attention (default first)": ", ".join(h["slots"]),
        }
        for h in heads or []
    ]
    tables = (("Attention modules", attention_rows), ("Backbones", backbone_rows), ("Dense heads (--head)", head_rows))
    for title, rows in tables:
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for c in rows[0]:
            table.add_column(c, overflow="fold")
        for row in rows:
            table.add_row(*[escape(str(v)) for v in row.values()])
        console.print(table)


def show_runtimes(rows: list[dict[str, str]], console: Console = stdout) -> None:
    """The runtimes: installed or not (what is missing), version, devices, int8, and how to install each."""
    table = Table(title="Runtimes", title_justify="left")
    for c in rows[0]:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*[escape(str(v)) for v in row.values()])  # literal brackets: pip install -e '.[onnx]'
    console.print(table)


def show_rows(frame: pd.DataFrame, fmt: str, title: str) -> None:
    """Profile or sweep rows on stdout in ``fmt`` (``options.Format``)."""
    if fmt == "table":
        if len(frame):
            show_profile(frame)
        else:
            info("nothing left to measure")
    else:
        write_text(rows_text(frame, fmt, title))


def rows_text(frame: pd.DataFrame, fmt: str, title: str) -> str:
    """Profile or sweep rows as the text ``--format fmt`` prints (csv, json, md or latex); also what the
    ``--export-*`` files hold. CSV and JSON hold raw numbers, Markdown and LaTeX the screen's cells and legend."""
    if fmt == "csv":
        from ...io.csvfile import csv_text

        return csv_text(list(frame.columns), frame.itertuples(index=False))
    if fmt == "json":
        return str(frame.to_json(orient="records", indent=2)) + "\n"
    from ...io import export

    columns, cells = profile_cells(frame)
    serialize = export.to_markdown if fmt == "md" else export.to_latex
    return serialize(columns, cells, [PROFILE_LEGEND], title=title)
