"""The only module that imports rich or writes to the terminal.

Results go to stdout (a rich table, or plain CSV/JSON with ``--format``); warnings, errors and progress go to
stderr. Units and rounding exist only here: the frames and CSVs hold raw numbers.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..cost import BASELINE
from ..cost.records import SETTING_KEY

KEY_LABELS = {
    "output_stride": "OS",
    "input_size": "input",
    "quantize": "quant",
    "head_classes": "classes",
    "head_slots": "slots",
}
"""Column headings of the key columns whose names are long; the others show as named."""

if TYPE_CHECKING:
    import pandas as pd

    from ..ablation.run import AblationEvent, AblationResult
    from ..ablation.spec import AblationSpec


def _console(**kw: Any) -> Console:
    # Piped output gets a fixed, wide layout instead of rich's 80-column fallback.
    probe = Console(**kw)
    return probe if probe.is_terminal else Console(width=160, **kw)


stdout = _console(highlight=False)
stderr = _console(stderr=True, highlight=False)

FORMATS = ("table", "csv", "json")


def _missing(v: Any) -> bool:
    """None, NaN and pandas' NA (empty cells of nullable integer columns)."""
    import pandas as pd

    return v is None or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))


def millions(v: Any, digits: int = 3) -> str:
    return "–" if _missing(v) else f"{v / 1e6:.{digits}f}"


def signed_millions(v: Any, digits: int = 3) -> str:
    return "–" if _missing(v) else f"{v / 1e6:+.{digits}f}"


def pct(v: Any) -> str:
    return "–" if _missing(v) else f"{round(v, 1) + 0.0:+.1f}%"  # + 0.0 turns -0.0 into 0.0


def latency(median: Any, iqr: Any) -> str:
    return "–" if _missing(median) else f"{median:.3f} ± {iqr:.3f}"


def delta_latency(d: Any, low: Any, high: Any) -> str:
    """``+31.2% [28.0, 34.1]``: the median paired Δ and its 95 % interval, in %; the interval is left out when
    there is none (too few samples)."""
    if _missing(d):
        return "–"
    if _missing(low) or _missing(high):
        return pct(d)
    return f"{pct(d)} [{round(low, 1) + 0.0:.1f}, {round(high, 1) + 0.0:.1f}]"


def _with_delta(value: Any, delta: Any, base: bool, digits: int) -> str:
    return millions(value, digits) if base else f"{millions(value, digits)} ({signed_millions(delta, digits)})"


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
            cells.append([r["module"], *[_cell(r, c) for c in varying], f"failed: {r['error']}"])
            cells[-1] += [""] * (len(columns) - len(cells[-1]))
            continue
        extra = [*([_sci(r["max_abs_diff"])] if checked else []), *([_share(r["top1_agreement"])] if agreed else [])]
        cells.append(
            [
                r["module"],
                *[_cell(r, c) for c in varying],
                r["position"] or "–",
                reduction_text(r["reduction"], r.get("reduction_rule", "")),
                str(r["attn_count"]),
                _with_delta(r["params"], r["d_params"], base, 3),
                _with_delta(r["macs"], r["d_macs"], base, 1),
                _with_delta(r["elementwise_ops"], r["d_elementwise_ops"], base, 1),
                latency(r["latency_ms_median"], r["latency_ms_iqr"]),
                ""
                if base
                else delta_latency(r["d_latency_pct"], r["d_latency_pct_ci_low"], r["d_latency_pct_ci_high"]),
                "–" if _missing(r["throughput_ips"]) else f"{r['throughput_ips']:.1f}",
                millions(r["peak_mem_bytes"], 1),
                *extra,
            ]
        )
    return columns, cells


def reduction_text(reduction: Any, rule: Any) -> str:
    """``32`` (the module's own r), ``24 given``, ``11 matched``, ``4 native``; ``–`` without an r."""
    if _missing(reduction):
        return "–" if _missing(rule) or rule in ("", "default") else str(rule)
    marked = "" if _missing(rule) or rule in ("", "default") else f" {rule}"
    return f"{int(reduction)}{marked}"


def _cell(r: Any, column: str) -> str:
    """A configuration cell of a profile row: the width as the papers write it, ``–`` for an empty one."""
    if _missing(r[column]) or r[column] == "":
        return "–"
    return f"{r[column]:g}" if column == "width" else str(r[column])


def _sci(value: Any) -> str:
    return "–" if _missing(value) else f"{float(value):.2g}"


def _share(value: Any) -> str:
    return "–" if _missing(value) else f"{100 * float(value):.1f}%"


PROFILE_LEGEND = (
    "r = reduction ratio: the module's own unless marked given (--reduction), matched (--match-params: attention "
    "params closest to the backbone's own modules) or native (the backbone's own module); "
    "n = attention modules inserted; elem-ops = element-wise ops (pooling, gates, activations, broadcast products, "
    "BN); Δ against the 'none' row of the same configuration. latency ms: median ± IQR of the samples. "
    "Δlat: median of the per-round latency ratios to 'none', −1, with its 95 % confidence interval [low, high] in %."
)


PIPED_WIDTH = 80
"""The width the profile and paper tables fit when stdout is not a terminal (``COLUMNS`` overrides it)."""


def screen_width(console: Console) -> int:
    """The width the profile and paper tables must fit: the terminal's (rich reads ``COLUMNS`` too), or for piped
    stdout ``COLUMNS`` when set, else ``PIPED_WIDTH``; a console made with its own width keeps it."""
    if console is stdout and not console.is_terminal:
        columns = os.environ.get("COLUMNS", "")
        return int(columns) if columns.isdigit() and int(columns) > 0 else PIPED_WIDTH
    return console.width


def _fitted(
    title: str | None,
    columns: list[str],
    cells: list[list[str]],
    parts: list[list[str]],
    width: int,
    console: Console,
    left: tuple[str, ...],
    caption: str | None = None,
) -> list[Table]:
    """One table of ``columns`` when it fits ``width``; else one table per list of column names in ``parts`` (each
    starting with the row's key columns), compact and with wrapping cells, and without columns that hold nothing
    but '–' or empty cells. Only the first table has the title, only the last the caption."""

    def build(names: list[str], compact: bool) -> Table:
        kw: dict[str, Any] = {"box": box.SIMPLE_HEAD, "show_edge": False, "padding": (0, 1)} if compact else {}
        table = Table(title_justify="left", caption_justify="left", **kw)
        for c in names:
            table.add_column(c, justify="left" if c in left else "right", no_wrap=not compact or c == names[0])
        index = [columns.index(c) for c in names]
        for row in cells:
            table.add_row(*[row[i] for i in index])
        return table

    # Titles and captions are text (file and device names may hold brackets), cells are markup the caller escaped.
    title = escape(title) if title else title
    caption = escape(caption) if caption else caption
    whole = build(columns, compact=False)
    whole.title, whole.caption = title, caption
    if console.measure(whole, options=console.options.update_width(10_000)).maximum <= width:
        return [whole]
    tables = []
    for names in parts:
        keep = [c for i, c in enumerate(names) if i == 0 or any(r[columns.index(c)] not in ("", "–") for r in cells)]
        if len(keep) > 1 or not tables:
            tables.append(build(keep, compact=True))
    tables[0].title, tables[-1].caption = title, caption
    return tables


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
    for table in _fitted(title, columns, cells, parts, width, console, ("module", "backbone", "build", "slot")):
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
    if _missing(head) or not head:
        return ""
    parts = [f"OS {int(r['output_stride'])}"] if not _missing(r.get("output_stride")) else []
    if not _missing(r.get("head_classes")):
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
                if _missing(r["d_latency_pct"])
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
    """Profile or sweep rows on stdout in ``fmt`` (see ``options.FORMATS``)."""
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
        return str(frame.to_csv(index=False, lineterminator="\n"))
    if fmt == "json":
        return str(frame.to_json(orient="records", indent=2)) + "\n"
    from ..io import export

    columns, cells = profile_cells(frame)
    serialize = export.to_markdown if fmt == "md" else export.to_latex
    return serialize(columns, cells, [PROFILE_LEGEND], title=title)


def version(name: str, number: str) -> None:
    stdout.print(f"{name} {number}", markup=False, highlight=False)


def warn(message: str) -> None:
    stderr.print(f"[yellow]Warning:[/yellow] {escape(' '.join(message.split()))}", soft_wrap=True)


def error(message: str, hint: str | None = None) -> None:
    """One ``Error:`` line (whitespace in ``message`` folded), then an optional hint line."""
    stderr.print(f"[bold red]Error:[/bold red] {escape(' '.join(message.split()))}", soft_wrap=True)
    if hint:
        stderr.print(hint, style="dim", soft_wrap=True)


def interrupted(
    what: str = "Interrupted",
    then: str | None = "rows already written are kept; rerun with --resume to finish a sweep.",
) -> None:
    """One line for Ctrl-C or SIGTERM; ``then`` says what became of the work (``None``: nothing to say). A note
    left by the command (``on_interrupt``) replaces ``then``."""
    then = _interrupt_notes.pop() if _interrupt_notes else then
    _interrupt_notes.clear()
    stderr.print(f"{what}: {then}" if then else f"{what}.", soft_wrap=True, markup=False)


_interrupt_notes: list[str] = []


def on_interrupt(note: str) -> None:
    """Say what the interruption line will say became of the work: the command knows what it printed and wrote."""
    _interrupt_notes.append(note)


def info(message: str) -> None:
    stderr.print(message, soft_wrap=True, markup=False)


@contextlib.contextmanager
def status(message: str, quiet: bool = False) -> Iterator[Any]:
    """A spinner on stderr whose text the caller updates; silent when quiet or not a terminal."""
    if quiet or not stderr.is_terminal:
        yield lambda text: None
        return
    with stderr.status(escape(message)) as st:
        yield lambda text: st.update(escape(text))


def _fmt_metric(metric: str, v: Any) -> str:
    if _missing(v):
        return "–"
    return f"{v:.3f}" if metric == "latency" else f"{int(v):,}"


def _change(f: Any) -> str:
    if _missing(f.old) or _missing(f.new) or f.old == f.new:
        return ""
    if f.metric == "latency":
        return f"{100 * (f.new - f.old) / f.old:+.1f}%"
    return f"{int(f.new - f.old):+,}"


def show_check(result: Any, path: Any, fmt: str, github: bool, accepted: bool = False, shown: str = "all") -> None:
    """The diff table (or JSON, or CSV of the findings) of ``attnbench check`` and its one-line summary (on stderr
    with CSV); annotations with ``--github`` (on stderr with JSON or CSV, so that stdout stays one document).

    ``shown`` limits the table's rows: ``all``, ``changed`` (not ok) or ``failed`` (no table when none failed).
    JSON always holds every finding.
    """
    import json

    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    ok = not result.failures
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    verdict = "baseline rewritten" if accepted else ("all checks hold" if ok else f"{len(result.failures)} failing")
    line = f"check {path}: {verdict} ({summary})"
    if fmt == "json":
        data = {
            "ok": ok,
            "accepted": accepted,
            "summary": counts,
            "findings": [
                {
                    "row": f.row.label,
                    "line": f.row.line,
                    "metric": f.metric,
                    "old": f.old,
                    "new": f.new,
                    "status": f.status,
                    "note": f.note,
                    **f.row.config,
                }
                for f in result.findings
            ],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt == "csv":  # the findings, one per row; the summary goes to stderr so stdout stays one CSV
        from ..io.export import to_csv

        config = list(result.findings[0].row.config) if result.findings else []
        columns = ["line", "row", "metric", "old", "new", "status", "note", *config]
        cells = [
            [f.row.line, f.row.label, f.metric, f.old, f.new, f.status, f.note, *f.row.config.values()]
            for f in result.findings
        ]
        sys.stdout.write(to_csv(columns, cells))
        sys.stdout.flush()
        info(line)
    else:
        keep = {"all": lambda f: True, "changed": lambda f: f.status != "ok", "failed": lambda f: f.failed}[shown]
        rows = [f for f in result.findings if keep(f)]
        if rows:
            table = Table(title=escape(f"attnbench check {path}"), title_justify="left")
            for c in ("line", "row", "metric", "old", "new", "change", "status", "note"):
                table.add_column(c, justify="right" if c in ("line", "old", "new", "change") else "left")
            style = {"regression": "bold red", "changed": "bold red", "improved": "green", "skipped": "yellow"}
            for f in rows:
                old, new = _fmt_metric(f.metric, f.old), _fmt_metric(f.metric, f.new)
                cells = (str(f.row.line), f.row.label, f.metric, old, new, _change(f), f.status, f.note)
                table.add_row(*[escape(c) for c in cells], style=style.get(f.status))
            stdout.print(table)
        stdout.print(line, markup=False)
    if github:  # the Actions runner reads workflow commands on either stream: stdout keeps JSON/CSV parseable
        sys.stdout.flush()
        out = sys.stderr if fmt in ("json", "csv") else sys.stdout
        level = {"regression": "error", "changed": "error", "improved": "notice", "skipped": "warning"}
        for f in result.findings:
            if f.status in level:
                msg = f"{f.row.label} {f.metric}: {_fmt_metric(f.metric, f.old)} → {_fmt_metric(f.metric, f.new)} ({f.status}) {f.note}"
                out.write(f"::{level[f.status]} file={path},line={f.row.line},title=attnbench check::{msg.strip()}\n")
        out.flush()
    sys.stdout.flush()


def _pair(a: Any, b: Any, fmt: Callable[[Any], str], change: str) -> str:
    """``A → B (change)``; ``–`` for a missing side, the change left out when either side is missing."""
    text = f"{fmt(a)} → {fmt(b)}"
    return text if _missing(a) or _missing(b) else f"{text} ({change})"


COMPARE_LEGEND = (
    "A = first file, B = second, rows matched on their configuration. Counts in M: A → B (B − A). latency ms: "
    "median, A → B (B / A). Δlat: each file's latency share against its 'none' row, A → B (change in percentage "
    "points). CIs overlap: whether the two 95 % intervals of Δlat overlap; 'no' means the change is beyond the "
    "noise of either run."
)


def compare_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Display columns and cells of ``attnbench compare`` (shared by the rich table and the Markdown output)."""
    varying = [c for c in SETTING_KEY if len({str(r[c]) for r in rows}) > 1]
    columns = [
        "module",
        *[KEY_LABELS.get(c, c) for c in varying],
        "in",
        "params M",
        "MACs M",
        "elem-ops M",
        "latency ms",
        "Δlat",
        "CIs overlap",
    ]
    where = {"both": "both", "a_only": "A only", "b_only": "B only"}
    cells = []
    for r in rows:
        count = [
            _pair(r[f"{m}_a"], r[f"{m}_b"], lambda v, d=d: millions(v, d), signed_millions(r[f"{m}_diff"], d))
            for m, d in (("params", 3), ("macs", 1), ("elementwise_ops", 1))
        ]
        ratio = r["latency_ratio"]
        lat = _pair(
            r["latency_ms_median_a"],
            r["latency_ms_median_b"],
            lambda v: "–" if _missing(v) else f"{v:.3f}",
            "" if _missing(ratio) else f"×{ratio:.3f}",
        )
        change = r["d_latency_pct_change"]
        dlat = _pair(
            r["d_latency_pct_a"],
            r["d_latency_pct_b"],
            pct,
            "" if _missing(change) else f"{round(change, 1) + 0.0:+.1f} pp",
        )
        overlap = {True: "yes", False: "no", None: "–"}[r["ci_overlap"]]
        if r["module"] == BASELINE:  # its share is 0 by definition, as in the profile table
            dlat, overlap = "", ""
        cells.append([r["module"], *[_cell(r, c) for c in varying], where[r["in"]], *count, lat, dlat, overlap])
    return columns, cells


def show_compare(rows: list[dict[str, Any]], title: str, notes: list[str], console: Console = stdout) -> None:
    """The comparison of two result files: one row per configuration, A → B for every metric."""
    columns, cells = compare_cells(rows)
    table = Table(title=escape(title), title_justify="left")
    for c in columns:
        table.add_column(c, justify="left" if c in ("module", "backbone", "build", "in", "device") else "right")
    for row in cells:
        table.add_row(*[escape(c) for c in row])
    console.print(table)
    console.print(COMPARE_LEGEND, style="dim", markup=False)
    for note in notes:
        console.print(note, markup=False)


def printed(text: str) -> str:
    """A published value as the paper printed it, in the column's unit: '3.89M' → '3.89', '1.814G' → '1814'."""
    if not text:
        return "–"
    if text.endswith("G"):
        number = text[:-1]
        decimals = max(0, len(number.split(".")[1]) - 3) if "." in number else 0
        return f"{float(number) * 1e3:.{decimals}f}"
    return text.rstrip("M")


SCORE_LABELS = {"top1": "top-1", "top1_err": "top-1", "ap": "AP", "map": "mAP", "miou": "mIoU"}
"""Column titles of a paper table's task metric."""


def _score(r: dict[str, Any]) -> str:
    """The published task metric: top-1 to one decimal (100 − error for error tables), others as printed."""
    if r.get("score_metric", "top1") in ("top1", "top1_err"):
        return "–" if _missing(r["published_top1"]) else f"{r['published_top1']:.1f}"
    return r.get("published_score_text") or "–"


def table_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]], list[str]]:
    """Display columns, cells and numbered footnotes of a paper table (shared by rich, Markdown and LaTeX).

    A measured cell outside the published value's rounding ends in ``*``; colour is never the only carrier.
    """
    several = len({r.get("runtime", "eager") for r in rows}) > 1
    timed = any(not _missing(r["latency_ms_median"]) for r in rows)
    notes: list[str] = []
    metric = SCORE_LABELS.get(rows[0].get("score_metric", "top1"), "score") if rows else "top-1"
    columns = [
        "model",
        "×",
        "r",
        "params pub.",
        "params ours (Δ%)",
        "MAdds pub.",
        "MACs ours (Δ%)",
        "elem-ops ours",
        f"{metric} pub.",
        "source",
        *(["latency ms", "Δlat"] if timed else []),
        "note",
    ]
    cells = []
    for r in rows:
        if r["note"] and r["note"] not in notes:
            notes.append(r["note"])

        def ours(value: int, pct_: Any, differs: Any, digits: int) -> str:
            mark = "*" if differs is True else ""
            return f"{value / 1e6:.{digits}f}" + ("" if _missing(pct_) else f" ({pct(pct_)})") + mark

        cells.append(
            [
                r["row"] + (f" ({r['runtime']})" if several else ""),
                f"{r['width']:g}",
                reduction_text(r["reduction"], r.get("reduction_rule", "")),
                printed(r["published_params_text"]),
                ours(r["params"], r["d_params_pct"], r["params_differs"], 3),
                printed(r["published_madds_text"]),
                ours(r["macs"], r["d_macs_pct"], r["macs_differs"], 1),
                millions(r["elementwise_ops"], 1),
                _score(r),
                r["source"],
                *([latency(r["latency_ms_median"], r["latency_ms_iqr"]), pct(r["d_latency_pct"])] if timed else []),
                f"[{notes.index(r['note']) + 1}]" if r["note"] else "",
            ]
        )
    return columns, cells, notes


def show_table(title: str, context: str, rows: list[dict[str, Any]], console: Console = stdout) -> None:
    """A paper table, published beside measured, with the footnotes under it.

    When it is wider than the screen (``screen_width``: 80 columns when piped) it is printed as two compact tables,
    the published and measured params and MACs first, the rest after; footnotes wrap at word boundaries.
    """
    width = screen_width(console)
    columns, cells, notes = table_cells(rows)
    cells = [
        [f"[bold yellow]{escape(c)}[/bold yellow]" if c.endswith("*") else escape(c) for c in row] for row in cells
    ]
    split = columns.index("elem-ops ours")
    parts = [columns[:split], ["model", *columns[split:]]]
    for table in _fitted(title, columns, cells, parts, width, console, ("model", "source", "note"), caption=context):
        console.print(table, width=width)
    console.print(
        "* outside the published value's rounding. source: confirmed = paper or authors' README/code; "
        "recalled = unverified recollection; unknown = not recovered (left empty).",
        markup=False,
        width=width,
    )
    for n, text in enumerate(notes, start=1):
        console.print(f"[{n}] {text}", markup=False, width=width)


def show_table_list(specs: list[Any], console: Console = stdout) -> None:
    table = Table(title="Paper tables", title_justify="left")
    for c in ("name", "rows", "title", "published numbers"):
        table.add_column(c)
    for s in specs:
        table.add_row(*[escape(str(c)) for c in (s.name, len(s.rows), s.title, s.source)])
    console.print(table)


def write_text(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@contextlib.contextmanager
def progress_bar(total: int, label: str, quiet: bool = False) -> Iterator[Any]:
    """A rich progress bar on stderr over ``total`` steps (count, elapsed time, ETA); yields ``update(text, advance)``.

    Silent when ``quiet`` or when stderr is not a terminal (a log or a pipe gets no bar frames).
    """
    if quiet or not stderr.is_terminal:
        yield lambda text, advance=False: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=False) as bar:
        task = bar.add_task(label, total=total)

        def update(text: str, advance: bool = False) -> None:
            bar.update(task, description=escape(f"{label}: {text}"), advance=1 if advance else 0)

        yield update


# --------------------------------------------------------------------------------------------------------------------
# attnbench ablate: progress on stderr, the summary on stdout


class _ProgressSink:
    """Turns ``AblationEvent``s into two rich bars (sweep, current run) or, off a terminal, one line per run."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.progress: Any = None
        self.sweep: Any = None
        self.run: Any = None

    def __enter__(self) -> _ProgressSink:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=stderr,
                transient=True,
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def __call__(self, ev: AblationEvent) -> None:
        label = f"{ev.module} seed {ev.seed}"
        if not self.live:
            if ev.kind == "done" and ev.record is not None:
                r = ev.record
                score = _run_score(r) if r.top1 is not None else f"failed: {r.error}"
                info(f"run {ev.index + 1}/{ev.total} {label}: {score} ({r.train_seconds:.1f} s training)")
            elif ev.kind == "skip":
                info(f"run {ev.index + 1}/{ev.total} {label}: already in the CSV, skipped")
            return
        p = self.progress
        if self.sweep is None:
            self.sweep = p.add_task("sweep", total=ev.total, info="")
        if ev.kind in ("skip", "done"):
            p.update(self.sweep, completed=ev.index + 1, info=f"{ev.index + 1}/{ev.total} runs")
            if self.run is not None:
                p.remove_task(self.run)
                self.run = None
            if ev.kind == "done" and ev.record is not None:
                r = ev.record
                score = _run_score(r) if r.top1 is not None else f"[red]failed[/red]: {r.error}"
                p.console.print(f"run {ev.index + 1}/{ev.total} {label}: {score} ({r.train_seconds:.1f} s training)")
        elif ev.kind == "start":
            p.update(self.sweep, info=f"{ev.index}/{ev.total} runs")
            self.run = p.add_task(label, total=None, info="building")
        elif ev.kind == "step" and ev.train is not None and self.run is not None:
            t = ev.train
            done = (t.epoch - 1) * t.steps + t.step
            text = (
                f"epoch {t.epoch}/{t.epochs}  step {t.step}/{t.steps}  loss {t.loss:.3f}  acc {100 * t.accuracy:.1f}%"
            )
            p.update(self.run, total=t.epochs * t.steps, completed=done, info=text)


class ablation_progress:
    """Context manager yielding the progress callback (``None`` when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.sink = None if quiet else _ProgressSink(live=stderr.is_terminal)

    def __enter__(self) -> Callable[[AblationEvent], None] | None:
        return self.sink.__enter__() if self.sink else None

    def __exit__(self, *exc: object) -> None:
        if self.sink:
            self.sink.__exit__(*exc)


def _pct(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}"


def _p(p: float | None) -> str:
    return "–" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _signed(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v + 0.0:+.{digits}f}"


def _ci(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"[{low:+.2f}, {high:+.2f}]"


def task_label(task: str) -> str:
    """A synthetic family task by its label map (the table titles give the full form); others as given."""
    from ..ablation.data import parse_data

    ref = parse_data(task)
    return ref.labels if ref.synthetic and ref.options else task


def _run_score(r: Any) -> str:
    """A finished run's score: top-1, or for a dense task mean IoU and pixel accuracy."""
    if r.head and r.miou is not None:
        return f"mIoU {100 * r.miou:.2f}% (pixel accuracy {100 * r.top1:.2f}%)"
    return f"top-1 {100 * r.top1:.2f}%"


def _metric(result: AblationResult) -> str:
    """What the sweep's runs are compared by: mIoU for the dense tasks, top-1 otherwise."""
    return "mIoU" if any(r.head for r in result.records) else "top-1"


def summary_table(result: AblationResult, spec: AblationSpec, task: str | None = None) -> Table:
    """One task's summary as a rich table: cost, top-1 (mIoU) mean ± std over seeds, Δ and Welch p against the
    baseline."""
    from rich.table import Table

    metric = _metric(result)
    task = task if task is not None else result.data_name
    classes = dict(result.tasks).get(task, result.num_classes)
    seeds = ",".join(str(s) for s in spec.seeds)
    title = (
        f"{spec.backbone} {width_label(spec.width)} on {task} ({classes} classes), {spec.input_size} px, "
        f"{spec.epochs} epochs, seeds {seeds}"
    )
    table = Table(title=title, title_justify="left")
    for col, just in (
        ("module", "left"),
        ("params (M)", "right"),
        ("MACs (M)", "right"),
        ("runs", "right"),
        ("conv.", "right"),
        (f"{metric} % (mean ± std)", "right"),
        (f"{metric} % per seed", "left"),
        (f"Δ {metric} (pp)", "right"),
        ("p (Welch)", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    rows = [s for s in result.summary if s.task == task or (not s.task and len(result.tasks) <= 1)]
    has_top5 = any(s.top5_mean is not None for s in rows)
    if has_top5:
        table.add_column("top-5 %", justify="right")
    for s in rows:
        mean = _pct(s.top1_mean) + ("" if s.top1_std is None else f" ± {100 * s.top1_std:.2f}")
        delta = "–" if s.d_top1 is None else f"{100 * s.d_top1:+.2f}"
        row = [
            s.module,
            millions(s.params),
            millions(s.macs, 2),
            f"{s.ok}/{s.runs}",
            f"{s.converged}/{s.ok}",
            mean,
            " ".join(_pct(v, 1) for v in s.top1) or "–",
            delta,
            _p(s.p_value),
        ]
        if has_top5:
            row.append(_pct(s.top5_mean))
        table.add_row(*row)
    return table


def _mde(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def contrasts_table(result: AblationResult, primary: bool) -> Table | None:
    """The primary (or the exploratory) contrasts a − b: Δ with the paired and the Welch 95 % intervals, the p and
    MDE of the analysis used, Holm p within the family, and the seeds' correlation."""
    from rich.table import Table

    if result.analysis is None:
        return None
    cs = [c for c in result.analysis.contrasts if c.primary is primary]
    if not cs:
        return None
    name = "Primary contrasts (pre-registered)" if primary else "Exploratory contrasts"
    table = Table(title=f"{name} a − b, {_metric(result)} in percentage points", title_justify="left")
    cols = ["task", "a − b", "n", "Δ (pp)", "paired 95 % CI", "Welch 95 % CI", "test", "p", "p Holm", "MDE (pp)", "ρ"]
    boot = any(c.boot_low_pp is not None for c in cs)
    if boot:
        cols.insert(6, "bootstrap CI")
    for col in cols:
        table.add_column(col, justify="left" if col in ("task", "a − b", "test") else "right")
    for c in cs:
        n = f"{c.n_pairs}" if c.n_a == c.n_b == c.n_pairs else f"{c.n_a}/{c.n_b} ({c.n_pairs} paired)"
        row = [
            task_label(c.task),
            f"{c.a} − {c.b}",
            n,
            _signed(c.delta_pp),
            _ci(c.paired_ci_low_pp, c.paired_ci_high_pp),
            _ci(c.welch_ci_low_pp, c.welch_ci_high_pp),
            c.analysis,
            _p(c.p),
            _p(c.p_holm),
            _mde(c.mde_pp),
            "–" if c.rho is None else f"{c.rho:+.2f}",
        ]
        if boot:
            row.insert(6, _ci(c.boot_low_pp, c.boot_high_pp))
        table.add_row(*row)
    return table


def examples_table(result: AblationResult) -> Table | None:
    """The per-example tests of every contrast whose runs saved their predictions."""
    from rich.table import Table

    cs = [c for c in (result.analysis.contrasts if result.analysis else ()) if c.examples is not None]
    if not cs:
        return None
    table = Table(title="Per-example tests (test-set noise for these trained models)", title_justify="left")
    for col in ("task", "a − b", "seeds", "examples", "p (t over examples)", "McNemar b/c", "p McNemar"):
        table.add_column(col, justify="left" if col in ("task", "a − b") else "right")
    for c in cs:
        table.add_row(
            task_label(c.task),
            f"{c.a} − {c.b}",
            str(c.example_seeds),
            str(c.examples),
            _p(c.p_examples),
            f"{c.mcnemar_b}/{c.mcnemar_c}",
            _p(c.p_mcnemar),
        )
    return table


def did_table(result: AblationResult) -> Table | None:
    """Crossovers (a − b | row) − (a − b | column) and differences in differences against the shape-only control."""
    from rich.table import Table

    if result.analysis is None or not result.analysis.did:
        return None
    table = Table(
        title="Crossover and difference in differences (a − b | task) − (a − b | other), pp", title_justify="left"
    )
    for col in ("kind", "task", "other", "a − b", "n", "DiD (pp)", "95 % CI (pp)", "test", "p", "p Holm", "MDE (pp)"):
        table.add_column(col, justify="left" if col in ("kind", "task", "other", "a − b", "test") else "right")
    for d in result.analysis.did:
        table.add_row(
            d.kind,
            task_label(d.task),
            task_label(d.control),
            f"{d.a} − {d.b}",
            str(d.n),
            _signed(d.did_pp),
            _ci(d.ci_low_pp, d.ci_high_pp),
            d.analysis,
            _p(d.p),
            _p(d.p_holm),
            _mde(d.mde_pp),
        )
    return table


def show_ablation(result: AblationResult, spec: AblationSpec, console: Console | None = None) -> None:
    """Print every task's summary table, the primary then exploratory contrasts, the per-example tests, the
    crossovers and differences in differences, notes and warnings."""
    console = console or stdout
    tasks = [t for t, _ in result.tasks] or [result.data_name]
    for task in tasks:
        console.print(summary_table(result, spec, task))
    console.print(
        f"{_scores_words(result)} on the {_split_words(result)}. Δ: mean {_metric(result)} minus the baseline's, in "
        "percentage points. p: "
        "Welch's two-sided t-test against the baseline over seeds (– with fewer than 2 successful seeds on either "
        "side). conv.: runs that converged.",
        style="dim",
        soft_wrap=True,
    )
    tables = (contrasts_table(result, True), contrasts_table(result, False), examples_table(result), did_table(result))
    for table in tables:
        if table is not None:
            console.print(table)
    if result.analysis is not None and result.analysis.contrasts:
        console.print(
            "paired: t interval over the within-seed differences (df n − 1); used when every run shares its seed's "
            "initialisation and data order, else Welch (independent means). p, MDE: of the test used; MDE is the "
            "true difference that test at 5 % finds with 80 % power, from the observed spread and n. p Holm: within "
            "the family (primary contrasts alone; exploratory alone; crossovers; control differences). ρ: "
            f"correlation of the two modules' {_metric(result)} over the paired seeds. Runs that did not converge "
            "are included "
            f"everywhere. {escape(result.analysis.convergence)}.",
            style="dim",
            soft_wrap=True,
        )
    for line in result.analysis.warnings if result.analysis is not None else ():
        console.print(f"warning: {escape(line)}", soft_wrap=True, markup=True)


def _scores_words(result: AblationResult) -> str:
    if _metric(result) == "mIoU":
        return "Mean IoU (one confusion matrix over every test pixel, background included)"
    return "Accuracies"


def _split_words(result: AblationResult) -> str:
    splits = {r.eval_split for r in result.records} or {"test"}
    if splits == {"val"}:
        return "validation split (held out of the training split; the test split was not used)"
    if splits == {"test"}:
        return "test split"
    return "test split for rows marked test and the validation split for rows marked val"


def ablation_json(result: AblationResult, spec: AblationSpec) -> dict[str, Any]:
    """The summary as data: raw numbers, fractions for the module rows, percentage points for contrasts."""
    import dataclasses

    analysis = result.analysis
    return {
        "backbone": spec.backbone,
        "width": spec.width,
        "input_size": spec.input_size,
        "epochs": spec.epochs,
        "seeds": list(spec.seeds),
        "tasks": [{"data": t, "num_classes": c} for t, c in result.tasks],
        "head": spec.head or "",
        "output_stride": spec.stride,
        "metric": "miou" if _metric(result) == "mIoU" else "top1",
        "modules": [dataclasses.asdict(s) for s in result.summary],
        "eval_split": sorted({r.eval_split for r in result.records}),
        "convergence_rule": analysis.convergence if analysis else "",
        "contrasts": [dataclasses.asdict(c) for c in analysis.contrasts] if analysis else [],
        "did": [dataclasses.asdict(d) for d in analysis.did] if analysis else [],
        "warnings": list(analysis.warnings) if analysis else [],
    }


def write_ablation_json(result: AblationResult, spec: AblationSpec) -> None:
    import json

    sys.stdout.write(json.dumps(ablation_json(result, spec), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()
