"""Mid-run failures keep what was measured: a ``--csv`` file that another program removes, replaces with a folder
or overwrites while a sweep runs takes no more rows; the rows in flight go to ``<file>.unsaved`` (stdout when that
cannot take them either), as on a full disk, and the command ends with exit 1 and one line.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clihelp import run_cli

from attnbench.cost import sweep

GRID = ("--modules", "se", "--backbones", "r18", "--widths", "0.35,0.5", "--inputs", "32", "--no-latency", "--quiet")


def _replace_with_folder(p: Path) -> None:
    p.unlink()
    p.mkdir()


CHANGES: dict[str, tuple[Callable[[Path], Any], str]] = {
    "removed": (lambda p: p.unlink(), "it was removed or replaced while this command ran"),
    "renamed": (lambda p: p.rename(p.with_name("moved.csv")), "it was removed or replaced while this command ran"),
    "folder": (_replace_with_folder, "it was removed or replaced while this command ran"),
    "garbage": (lambda p: p.write_bytes(b"\x00\x01garbage\nnot,a,results,file\n"), "it is not a readable CSV"),
    "other-csv": (lambda p: p.write_text("a,b\n1,2\n"), "it has other columns than this command writes"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_rows_in_flight_go_to_unsaved_when_the_csv_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    out = tmp_path / "rows.csv"
    act, says = CHANGES[change]
    measure = sweep.profile
    calls = []

    def profile_then_change(spec: Any) -> Any:  # another program acts while the second group is measured
        calls.append(spec)
        if len(calls) == 2:
            act(out)
        return measure(spec)

    monkeypatch.setattr(sweep, "profile", profile_then_change)
    code, stdout, err = run_cli("sweep", *GRID, "--csv", out)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: could not append to --csv '{out}' ({says}"), err
    assert lines[0].endswith(f"The 2 row(s) not written were saved to '{out}.unsaved'."), err
    with open(f"{out}.unsaved", newline="") as f:
        saved = list(csv.DictReader(f))
    assert [(r["module"], r["width"]) for r in saved] == [("none", "0.5"), ("se", "0.5")]  # the group in flight
    assert stdout == ""


def test_rows_that_unsaved_cannot_take_are_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "rows.csv"
    os.mkdir(f"{out}.unsaved")  # not even <file>.unsaved can take them: stdout is the last resort
    measure = sweep.profile
    calls = []

    def profile_then_remove(spec: Any) -> Any:
        calls.append(spec)
        if len(calls) == 2:
            out.unlink()
        return measure(spec)

    monkeypatch.setattr(sweep, "profile", profile_then_remove)
    code, stdout, err = run_cli("sweep", *GRID, "--csv", out)
    assert code == 1 and len(err.splitlines()) == 1
    assert "2 row(s) not written are printed on stdout as CSV" in err
    rows = list(csv.DictReader(stdout.splitlines()))
    assert [(r["module"], r["width"]) for r in rows] == [("none", "0.5"), ("se", "0.5")]
