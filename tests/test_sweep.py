"""Sweeps: the grid is validated before any work, rows are appended per group, and resume adds no duplicates."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from attnbench.api import build_spec
from attnbench.cost import sweep
from attnbench.cost.records import COLUMNS
from attnbench.errors import ResultsFileError, UsageError

FAST = dict(latency=False, memory=False)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_plan_validates_every_configuration_first() -> None:
    specs = sweep.plan(build_spec, ["se", "ca"], ["mbv2", "r18"], [1.0, 0.5], [32], **FAST)
    assert [(s.backbone, s.width) for s in specs] == [("mbv2", 1.0), ("mbv2", 0.5), ("r18", 1.0), ("r18", 0.5)]
    with pytest.raises(UsageError, match="--width 9.0"):
        sweep.plan(build_spec, ["se"], ["mbv2"], [1.0, 9.0], [32], **FAST)


def test_rows_are_appended_and_resume_measures_only_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    specs = sweep.plan(build_spec, ["se", "ca"], ["mbv2"], [0.5, 0.35], [32], **FAST)
    first = [r for group, _ in sweep.run(specs, out, resume=False) for r in group]
    assert len(first) == 6 and len(rows(out)) == 6
    assert list(rows(out)[0]) == list(COLUMNS)

    assert [r for group, _ in sweep.run(specs, out, resume=True) for r in group] == []  # nothing missing
    assert len(rows(out)) == 6

    kept = [r for r in rows(out) if not (r["module"] == "ca" and r["width"] == "0.35")]
    with out.open("w", newline="") as f:  # simulate a group cut short: its 'ca' row never written
        w = csv.DictWriter(f, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(kept)
    again = [r for group, _ in sweep.run(specs, out, resume=True) for r in group]
    assert [(r.module, r.width) for r in again] == [("ca", 0.35)]
    keys = [sweep.row_key(r) for r in rows(out)]
    assert len(keys) == 6 and len(set(keys)) == 6


def test_resume_refuses_a_file_with_other_columns(tmp_path: Path) -> None:
    out = tmp_path / "other.csv"
    out.write_text("a,b\n1,2\n")
    specs = sweep.plan(build_spec, ["se"], ["mbv2"], [0.5], [32], **FAST)
    with pytest.raises(ResultsFileError, match="other columns"):
        list(sweep.run(specs, out, resume=True))
