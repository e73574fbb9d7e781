"""Exporters: pure serializers from a table of display strings to Markdown or LaTeX text (CSV: ``csvfile.csv_text``).

``write_files`` writes the ``--export-*`` files of a command, each replaced atomically.

CSV exports of results hold raw numbers (``records``/``tables`` frames written as they are); Markdown and LaTeX
are for papers and READMEs, so they take the already formatted display cells.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMATS = ("csv", "md", "latex")


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], footnotes: Sequence[str] = (), title: str = ""
) -> str:
    """A GitHub-flavoured Markdown table; columns whose cells look numeric are right-aligned."""

    def numeric(i: int) -> bool:
        cells = [str(r[i]).strip().lstrip("+−-*") for r in rows if str(r[i]).strip() not in ("", "–")]
        return bool(cells) and all(c[:1].isdigit() for c in cells)

    lines = [f"**{_md_cell(title)}**", ""] if title else []
    lines.append("| " + " | ".join(_md_cell(c) for c in columns) + " |")
    lines.append("|" + "|".join("---:" if numeric(i) else "---" for i in range(len(columns))) + "|")
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    if footnotes:
        lines.append("")
        lines += [f"{n}. {_md_cell(text)}" for n, text in enumerate(footnotes, start=1)]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "×": r"$\times$",
    "−": "--",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "≈": r"$\approx$",
    "–": "--",
    "→": r"$\rightarrow$",
    "§": r"\S{}",
}


LATEX_REQUIRES = r"% requires \usepackage{booktabs}"
"""The first line of every LaTeX export: the package its rules need."""


def latex_escape(text: Any) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], footnotes: Sequence[str] = (), title: str = ""
) -> str:
    """A booktabs ``table`` environment; footnotes follow the tabular as a small paragraph.

    The first line is the comment ``LATEX_REQUIRES``: its rules (toprule, midrule, bottomrule) need the booktabs
    package in the document's preamble.
    """
    spec = "l" * min(2, len(columns)) + "r" * max(0, len(columns) - 2)
    out = [LATEX_REQUIRES, r"\begin{table}[t]", r"\centering", r"\small"]
    if title:
        out.append(r"\caption{" + latex_escape(title) + "}")
    out += [
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    out += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    if footnotes:
        notes = "; ".join(f"({n}) {latex_escape(t)}" for n, t in enumerate(footnotes, start=1))
        out += [r"\par\smallskip", r"\footnotesize " + notes]
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def write_files(files: Sequence[tuple[str, Path, str]]) -> None:
    """Write each ``(option, path, text)`` atomically, every one even when an earlier one fails.

    A file that cannot be written keeps what it held, and its text goes to ``<path>.unsaved`` instead (replaced
    atomically too), so no measurement is lost; a text that cannot be saved there either travels with the error for
    the caller to print on stdout.

    Raises:
        ExportWriteError: naming every file not written and where its text went (exit code 1).
    """
    from ..errors import AttnbenchError, ExportWriteError
    from .csvfile import UNSAVED_SUFFIX, atomic_write

    notes, left = [], []
    for option, path, text in files:
        try:
            atomic_write(path, text, option=option)
            continue
        except AttnbenchError as exc:
            why = str(exc).rstrip(".")
        spare = Path(os.fspath(path) + UNSAVED_SUFFIX)
        try:
            atomic_write(spare, text, option="")
            notes.append(f"{why}; its content was saved to '{spare}'.")
        except AttnbenchError:
            left.append(text)
            notes.append(f"{why}; its content is printed on stdout, save it before anything else.")
    if notes:
        raise ExportWriteError(" ".join(notes), "".join(left))
