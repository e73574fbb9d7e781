"""What the CLI writes beside its screen table: progress bars, ``--export-*`` files, ``compare``, 80-column tables.

Every model here is tiny (ResNet-18 ×0.35 at 32 px) and every command runs in-process.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from clihelp import ANSI, run_cli
from rich.console import Console

from attnbench.cli import render
from attnbench.papers import tables

TINY = ("--backbone", "r18", "--width", "0.35", "--input", "32")


@pytest.fixture
def tiny_table(monkeypatch: pytest.MonkeyPatch) -> str:
    """A paper table of two ResNet-18 ×0.35 rows (none, SE), registered for the test as 'tiny'."""
    rows = (tables.Row("ResNet-18", "r18", "none", 0.35), tables.Row("+ SE", "r18", "se", 0.35, 16))
    monkeypatch.setitem(tables.TABLES, "tiny", tables.TableSpec("tiny", "Tiny: ResNet-18 ×0.35", "tests", rows))
    return "tiny"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal: what the progress bars draw, ANSI codes included."""
    buf = io.StringIO()
    monkeypatch.setattr(render, "stderr", Console(file=buf, force_terminal=True, width=120))
    return buf


# --------------------------------------------------------------------------------------------------- progress bars


def test_table_baseline_write_and_check_show_a_progress_bar_with_count_and_eta(
    tmp_path: Path, tiny_table: str, terminal: io.StringIO
) -> None:
    base = tmp_path / "base.csv"
    grid = ("--modules", "se", "--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--no-latency")
    # the bar counts measurement groups: baseline write's grid points, check's configurations, table's profile runs
    for args, count in ((("baseline", "write", base, *grid), "1/1"), (("check", base, "--only", "params"), "2/2"),
                        (("table", tiny_table, "--input", "32"), "1/1")):  # fmt: skip
        terminal.seek(0)
        terminal.truncate()
        code, _, err = run_cli(*args)
        shown = ANSI.sub("", terminal.getvalue())
        assert code == 0 and count in shown and "ETA" in shown, (args, shown)
    terminal.seek(0)
    terminal.truncate()
    assert run_cli("table", tiny_table, "--input", "32", "--quiet")[0] == 0
    assert "ETA" not in terminal.getvalue()


def test_no_progress_bar_when_stderr_is_not_a_terminal(tiny_table: str) -> None:
    code, _, err = run_cli("table", tiny_table, "--input", "32")  # run_cli's stderr is a StringIO
    assert code == 0 and "ETA" not in err and "1/1" not in err
