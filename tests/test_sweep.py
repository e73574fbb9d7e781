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
    with pytest.raises(UsageError, match="`width` 9.0"):
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


# --- resume: what counts as done --------------------------------------------------------------------------------------

TINY = dict(latency=False, memory=False)


def _rewrite(path: Path, body: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(body)


def test_resume_retries_a_failed_row_and_keeps_it_as_history(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    specs = sweep.plan(build_spec, ["se"], ["r18"], [0.35], [32], **TINY)
    list(sweep.run(specs, out, resume=False))
    body = rows(out)
    se = next(r for r in body if r["module"] == "se")
    se.update(status="failed", error="RuntimeError: flaky", params="", macs="", elementwise_ops="")
    _rewrite(out, body)
    again = [r for group, _ in sweep.run(specs, out, resume=True) for r in group]
    assert [(r.module, r.status) for r in again] == [("se", "ok")]
    assert [(r["module"], r["status"]) for r in rows(out)] == [("none", "ok"), ("se", "failed"), ("se", "ok")]
    assert [r for group, _ in sweep.run(specs, out, resume=True) for r in group] == []  # the retry counts as done


def test_resume_keys_rows_on_latency_and_repeats(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    count_only = sweep.plan(build_spec, ["se"], ["r18"], [0.35], [32], **TINY)
    list(sweep.run(count_only, out, resume=False))
    timed = sweep.plan(
        build_spec, ["se"], ["r18"], [0.35], [32], latency=True, repeats=5, warmup=1, memory=False, max_time=0
    )
    # a count-only row does not satisfy a latency sweep ...
    again = [r for group, _ in sweep.run(timed, out, resume=True) for r in group]
    assert [(r.module, r.latency_n is not None and r.latency_n >= 5) for r in again] == [("none", True), ("se", True)]
    assert [r for group, _ in sweep.run(timed, out, resume=True) for r in group] == []
    # ... a timed row satisfies a count-only one (it holds the same counts), but not a run asking for more samples
    assert [r for group, _ in sweep.run(count_only, out, resume=True) for r in group] == []
    done = sweep.existing(out)
    most = max(r.latency_n for r in again)
    (spec,) = sweep.plan(
        build_spec, ["se"], ["r18"], [0.35], [32], latency=True, repeats=most + 1, memory=False, max_time=0
    )
    assert [n for n in spec.names if sweep.is_done(done, spec, n, "eager")] == []
    (spec,) = timed
    assert [n for n in spec.names if sweep.is_done(done, spec, n, "eager")] == ["none", "se"]


def test_resume_keys_rows_on_position_and_reduction(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    specs = sweep.plan(build_spec, ["se"], ["r18"], [0.35], [32], **TINY)
    list(sweep.run(specs, out, resume=False))
    body = rows(out)
    for r in body:  # the same file with the se row from a `profile --reduction 4` run
        if r["module"] == "se":
            r["reduction"] = "4"
    _rewrite(out, body)
    again = [r for group, _ in sweep.run(specs, out, resume=True) for r in group]
    assert [(r.module, r.reduction) for r in again] == [("se", 16)]


def test_resume_with_nothing_left_says_so_in_one_line(tmp_path: Path) -> None:
    from clihelp import run_cli

    out = tmp_path / "sweep.csv"
    args = (
        "sweep",
        "--modules",
        "se",
        "--backbones",
        "r18",
        "--widths",
        "0.35",
        "--inputs",
        "32",
        "--no-latency",
        "--csv",
        out,
        "--quiet",
    )
    code, _, err = run_cli(*args)
    assert code == 0, err
    for fmt in ("csv", "table"):
        code, stdout, err = run_cli(*args, "--resume", "--format", fmt)
        assert code == 0, err
        assert stdout == ""
        assert err.splitlines() == [f"nothing to measure: all 2 rows are already in {out}"], err
