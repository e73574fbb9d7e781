"""``check``: the findings as a table, CSV, JSON or GitHub annotations."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from .. import flags
from .cells import missing
from .console import info, stdout

if TYPE_CHECKING:
    pass


def _fmt_metric(metric: str, v: Any) -> str:
    if missing(v):
        return "–"
    return f"{v:.3f}" if metric == "latency" else f"{int(v):,}"


def _change(f: Any) -> str:
    if missing(f.old) or missing(f.new) or f.old == f.new:
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
                    "note": flags.show(f.note),
                    **f.row.config,
                }
                for f in result.findings
            ],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt == "csv":  # the findings, one per row; the summary goes to stderr so stdout stays one CSV
        from ...io.csvfile import csv_text

        config = list(result.findings[0].row.config) if result.findings else []
        columns = ["line", "row", "metric", "old", "new", "status", "note", *config]
        cells = [
            [f.row.line, f.row.label, f.metric, f.old, f.new, f.status, flags.show(f.note), *f.row.config.values()]
            for f in result.findings
        ]
        sys.stdout.write(csv_text(columns, cells))
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
                cells = (str(f.row.line), f.row.label, f.metric, old, new, _change(f), f.status, flags.show(f.note))
                table.add_row(*[escape(c) for c in cells], style=style.get(f.status))
            stdout.print(table)
        stdout.print(line, markup=False)
    if github:  # the Actions runner reads workflow commands on either stream: stdout keeps JSON/CSV parseable
        sys.stdout.flush()
        out = sys.stderr if fmt in ("json", "csv") else sys.stdout
        level = {"regression": "error", "changed": "error", "improved": "notice", "skipped": "warning"}
        for f in result.findings:
            if f.status in level:
                msg = f"{f.row.label} {f.metric}: {_fmt_metric(f.metric, f.old)} → {_fmt_metric(f.metric, f.new)} ({f.status}) {flags.show(f.note)}"
                out.write(f"::{level[f.status]} file={path},line={f.row.line},title=attnbench check::{msg.strip()}\n")
        out.flush()
    sys.stdout.flush()
