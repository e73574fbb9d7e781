"""``table``: a paper table beside the published numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cells import latency, millions, missing, pct
from .console import fitted, screen_width, stdout
from .profile import reduction_text

if TYPE_CHECKING:
    pass


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
        return "–" if missing(r["published_top1"]) else f"{r['published_top1']:.1f}"
    return r.get("published_score_text") or "–"


def table_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]], list[str]]:
    """Display columns, cells and numbered footnotes of a paper table (shared by rich, Markdown and LaTeX).

    A measured cell outside the published value's rounding ends in ``*``; colour is never the only carrier.
    """
    several = len({r.get("build", "eager") for r in rows}) > 1
    timed = any(not missing(r["latency_ms_median"]) for r in rows)
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
            return f"{value / 1e6:.{digits}f}" + ("" if missing(pct_) else f" ({pct(pct_)})") + mark

        cells.append(
            [
                r["row"] + (f" ({r['build']})" if several else ""),
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
    for table in fitted(title, columns, cells, parts, width, console, ("model", "source", "note"), caption=context):
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
