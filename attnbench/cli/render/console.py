"""The terminal itself: the two consoles, one-line messages, progress, and fitting a table to the screen."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import flags

if TYPE_CHECKING:
    pass


def _console(**kw: Any) -> Console:
    # Piped output gets a fixed, wide layout instead of rich's 80-column fallback.
    probe = Console(**kw)
    return probe if probe.is_terminal else Console(width=160, **kw)


stdout = _console(highlight=False)


stderr = _console(stderr=True, highlight=False)


PIPED_WIDTH = 80


"""The width the profile and paper tables fit when stdout is not a terminal (``COLUMNS`` overrides it)."""


def screen_width(console: Console) -> int:
    """The width the profile and paper tables must fit: the terminal's (rich reads ``COLUMNS`` too), or for piped
    stdout ``COLUMNS`` when set, else ``PIPED_WIDTH``; a console made with its own width keeps it."""
    if console is stdout and not console.is_terminal:
        columns = os.environ.get("COLUMNS", "")
        return int(columns) if columns.isdigit() and int(columns) > 0 else PIPED_WIDTH
    return console.width


def fitted(
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


def version(name: str, number: str) -> None:
    stdout.print(f"{name} {number}", markup=False, highlight=False)


def warn(message: str) -> None:
    """One ``Warning:`` line; fields the library named (``errors.opt``) shown as the command's options."""
    message = flags.show(message)
    stderr.print(f"[yellow]Warning:[/yellow] {escape(' '.join(message.split()))}", soft_wrap=True)


def error(message: str, hint: str | None = None) -> None:
    """One ``Error:`` line (whitespace in ``message`` folded, fields shown as options), then an optional hint line."""
    message = flags.show(message)
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
    """One line on stderr; fields the library named (``errors.opt``) shown as the command's options."""
    stderr.print(flags.show(message), soft_wrap=True, markup=False)


@contextlib.contextmanager
def status(message: str, quiet: bool = False) -> Iterator[Any]:
    """A spinner on stderr whose text the caller updates; silent when quiet or not a terminal."""
    if quiet or not stderr.is_terminal:
        yield lambda text: None
        return
    with stderr.status(escape(message)) as st:
        yield lambda text: st.update(escape(text))


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
