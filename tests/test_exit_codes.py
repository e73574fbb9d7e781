"""Exit codes CI can trust: a failed configuration is exit 1 in every command, bad input exit 2 with one line.

- ``baseline write`` with a failing configuration writes the good rows only (never a row with empty counts) and
  exits 1 naming the failure; ``check`` whose re-measurement fails exits 1 naming it, without a traceback;
- an empty grid (``--inputs ''`` and the like) is bad input, as is ``--threads`` above the cores this process may use.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from clihelp import error_line, run_cli

from attnbench.env import available_cpus

GRID = ("--modules", "se", "--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--no-latency", "--quiet")


def test_available_cpus_follows_the_affinity_mask() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_cpus() == expected >= 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("--inputs", ""), ("--backbones", ""), ("--widths", " , "), ("--modules", ""), ("--modules", " ,")],
)
@pytest.mark.parametrize("command", ["sweep", "baseline"])
def test_an_empty_grid_is_bad_input(tmp_path: Path, command: str, option: str, value: str) -> None:
    args = ["sweep"] if command == "sweep" else ["baseline", "write", str(tmp_path / "b.csv")]
    code, out, err = run_cli(*args, *GRID, option, value)  # the last value of a repeated option wins
    assert code == 2 and out == ""
    line = error_line(err)
    assert f"{option} '{value}'" in line and "names nothing" in line, line
    assert list(tmp_path.iterdir()) == []


THREADS = [
    ("profile", "--module", "se", "--backbone", "r18", "--width", "0.35", "--input", "32", "--no-latency"),
    ("sweep", *GRID),
    ("baseline", "write", "{tmp}/b.csv", *GRID),
    ("table", "ca-table2", "--input", "32"),
    (
        "ablate",
        "--modules",
        "se",
        "--width",
        "0.35",
        "--input",
        "16",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--train-samples",
        "96",
        "--test-samples",
        "48",
        "--quiet",
    ),
]


@pytest.mark.parametrize("args", THREADS, ids=lambda a: a[0])
def test_threads_beyond_the_cores_are_refused(tmp_path: Path, args: tuple[str, ...]) -> None:
    n = available_cpus()
    code, out, err = run_cli(*(a.format(tmp=tmp_path) for a in args), "--threads", str(n + 1))
    assert code == 2 and out == ""
    line = error_line(err)
    assert f"--threads {n + 1} is more than the {n} CPU core(s) this process may use" in line, line
    assert list(tmp_path.iterdir()) == []


FRAGILE = """
import torch
from torch import nn
from attnbench.modules import ATTENTION


@ATTENTION.register("fragile", paper="test module failing on large maps", arxiv="", hook="block")
class Fragile(nn.Module):
    def __init__(self, channels, *, reduction=16):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x):
        if x.shape[-1] > 20:
            raise RuntimeError("kernel failed on this shape")
        return x * self.scale
"""


@pytest.mark.slow
def test_a_failed_configuration_is_exit_1_in_baseline_write_and_check(tmp_path: Path) -> None:
    """In-process: ``run_cli`` calls ``main``, the entry point that maps errors to exit codes, and a traceback would
    escape it as the exception and fail the test. The plugin is imported once per process (``--plugins``) and
    unregistered after the test (conftest)."""
    plugin = tmp_path / "fragile.py"
    plugin.write_text(FRAGILE)
    base = tmp_path / "base.csv"
    # r18 at 32 px: every map fragile sees is ≤ 8 px; at 96 px the first blocks see 24 px and it fails
    code, out, err = run_cli(
        "baseline",
        "write",
        base,
        "--modules",
        "fragile",
        "--backbones",
        "r18",
        "--widths",
        "0.35",
        "--inputs",
        "32,96",
        "--no-latency",
        "--plugins",
        plugin,
        "-q",
    )
    assert code == 1, err
    assert "Traceback" not in err
    written, failure = err.splitlines()[:2]
    assert written == f"3 rows written to {base}"
    assert failure.startswith("Error: 1 of 4 rows failed: r18/fragile w0.35 @96 before_add r16: InsertionError")
    with base.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["module"], r["input_size"]) for r in rows] == [("none", "32"), ("fragile", "32"), ("none", "96")]
    assert all(r["params"] and r["macs"] and r["elementwise_ops"] for r in rows)  # no row with empty counts
    counts = ("--only", "params,macs,elementwise_ops", "--plugins", plugin, "-q")
    code, out, err = run_cli("check", base, *counts)
    assert code == 0, out + err
    # the same file, with the fragile row moved to 96 px: re-measuring it fails
    text = base.read_text().splitlines()
    text[2] = text[2].replace(",32,", ",96,", 1)
    base.write_text("\n".join(text) + "\n")
    code, out, err = run_cli("check", base, *counts, "--format", "json")
    assert code == 1, err
    assert "Traceback" not in err
    assert "could not be re-measured: InsertionError" in out
    before = base.read_bytes()
    code, out, err = run_cli("check", base, *counts, "--accept", "--repeats", "5", "--warmup", "1", "--max-time", "0")
    assert code == 1, err
    assert error_line(err).startswith("Error: 1 of 3 rows failed: r18/fragile w0.35 @96")
    assert base.read_bytes() == before  # never accepted with a row missing


def test_baseline_write_over_its_own_from_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "profile.csv"
    code, _, err = run_cli(
        "profile",
        "--module",
        "se",
        "--backbone",
        "r18",
        "--width",
        "0.35",
        "--input",
        "32",
        "--no-latency",
        "--csv",
        src,
        "--quiet",
    )
    assert code == 0, err
    before = src.read_bytes()
    for target in (src, tmp_path / "." / "profile.csv"):
        code, out, err = run_cli("baseline", "write", target, "--from", src)
        assert code == 2 and out == ""
        assert "is the --from file" in error_line(err)
    assert src.read_bytes() == before  # the profile rows were not replaced by a baseline


def test_a_grid_naming_one_value_twice_measures_it_once(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    code, _, err = run_cli("sweep", *GRID, "--widths", "0.35,.35", "--inputs", "32,32", "--csv", out)
    assert code == 0, err
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["module"], r["width"]) for r in rows] == [("none", "0.35"), ("se", "0.35")]
