"""``ablate --report-only`` reads what a sweep wrote and believes nothing it should not: every bad file or value is
one line naming the file (and line and column), exit 2; a read-only file is fine, nothing is written; runs match on
the fields that define a result, not on how they ran (threads)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import made_once
from test_ablate import run_main

PLAN = (
    "ablate",
    "--modules",
    "se",
    "--data",
    "synthetic:grid=2",
    "--input",
    "32",
    "--width",
    "0.35",
    "--epochs",
    "1",
    "--seeds",
    "2",
    "--train-samples",
    "128",
    "--test-samples",
    "64",
    "--threads",
    "1",
    "--quiet",
)


@pytest.fixture(scope="session")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-seed sweep: its CSV (4 rows) and the predictions beside it (tests copy it before a change)."""

    def train(folder: Path) -> None:
        code, _, err = run_main(*PLAN, "--csv", str(folder / "runs.csv"))
        assert code == 0, err

    return made_once(tmp_path_factory, "ablate-report-sweep", train)


def _copy(sweep: Path, tmp_path: Path) -> Path:
    shutil.copytree(sweep, tmp_path / "s")
    return tmp_path / "s" / "runs.csv"


def _edit(path: Path, line: int, column: str, value: str) -> None:
    import csv
    import io

    rows = list(csv.reader(io.StringIO(path.read_text())))
    rows[line - 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue())


def _report(csv_path: Path, *extra: str) -> tuple[int, str, str]:
    return run_main(*PLAN, "--csv", str(csv_path), "--report-only", *extra)


@pytest.mark.slow
def test_report_reads_a_read_only_file_and_matches_runs_whatever_their_thread_count(
    sweep: Path, tmp_path: Path
) -> None:
    path = _copy(sweep, tmp_path)
    before = path.read_bytes()
    path.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        code, out, err = _report(path)
        assert code == 0, err
        assert err.splitlines() == [f"4 runs read from {path}"]
        code, _, err = run_main(*PLAN[:-3], "--threads", "2", "--quiet", "--csv", str(path), "--report-only")
        assert code == 0 and err.splitlines() == [f"4 runs read from {path}"], err
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert path.read_bytes() == before and "Primary" not in out and "se − none" in out


def _fifo(p: Path) -> None:
    os.mkfifo(p)


CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("missing", lambda p: p.unlink(), "--csv '{csv}' does not exist; check the path."),
    ("empty", lambda p: p.write_text(""), "--csv '{csv}' is empty; give a CSV file with rows."),
    ("folder", lambda p: (p.unlink(), p.mkdir()), "--csv '{csv}' is a folder; give a CSV file."),
    ("fifo", lambda p: (p.unlink(), _fifo(p)), "--csv '{csv}' is not a regular file (a pipe or a device)"),
    (
        "header only",
        lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"),
        "--csv '{csv}' holds no finished run; train first (drop --report-only).",
    ),
    ("top-1 500 %", lambda p: _edit(p, 3, "top1", "5.0"), "{csv}:3: column top1 5.0 is outside 0..1"),
    ("top-1 nan", lambda p: _edit(p, 2, "top1", "nan"), "{csv}:2: column top1 nan is not a finite number"),
    ("negative", lambda p: _edit(p, 4, "top1", "-1"), "{csv}:4: column top1 -1.0 is outside 0..1"),
    ("garbage curve", lambda p: _edit(p, 2, "curve_top1", "0.4 x"), "{csv}:2: column curve_top1 is not a list"),
    (
        "corrupt predictions",
        lambda p: next((p.parent / "runs-predictions").glob("se-*")).write_bytes(b"junk"),
        "predictions file '",
    ),
]


@pytest.mark.parametrize(("case", "damage", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_results_file_is_one_line_and_exit_2(
    sweep: Path, tmp_path: Path, case: str, damage: Callable[[Path], None], says: str
) -> None:
    path = _copy(sweep, tmp_path)
    damage(path)
    code, out, err = _report(path)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert lines[0].startswith("Error: ") and says.format(csv=path) in lines[0], lines
    assert "Traceback" not in err and out == ""
