"""Nothing lost under interruption and faults, and no traceback for bad input.

- kill -9 at random moments of a sweep leaves only complete, parseable rows; --resume finishes with no duplicates;
- the same for ablate (its checkpoints written atomically too); kill -9 of baseline write, before or inside the
  write, leaves the old baseline byte for byte or the complete new one;
- Ctrl-C (SIGINT) keeps finished rows, prints one line and exits 130;
- a configuration that fails (a module error, a CUDA out-of-memory error) becomes a failed row; the rest goes on;

CI runs a bounded sample (3 sweep, 1 ablate and 2 baseline kills); ``-m slow`` runs more. Fuzzed CLI input is in
test_fuzz.py.
"""

from __future__ import annotations

import csv
import io
import math
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelp import run_cli

from attnbench.cost.records import COLUMNS, OPTIONAL_INT_COLUMNS
from attnbench.cost.sweep import row_key

GRID = ["--modules", "se,ca", "--backbones", "mbv2", "--widths", "0.35,1.0", "--inputs", "32,40"]
EXPECTED_ROWS = 2 * 2 * 3  # widths × inputs × (none, se, ca)
NUMERIC = {"params", "macs", "elementwise_ops", "width", "input_size", "batch", "threads", *OPTIONAL_INT_COLUMNS}


PROCESS = [sys.executable, "-m", "attnbench"]
"""The command as a real process, for the kills and the Ctrl-C; ``run_cli`` runs the same arguments in-process."""


def sweep_args(out: Path, *extra: str) -> list[str]:
    return ["sweep", *GRID, "--no-latency", "--csv", str(out), "--quiet", *extra]


def complete_rows(path: Path) -> list[dict[str, str]]:
    """Every row of ``path``, asserting each is complete and its numbers parse."""
    if not path.exists():
        return []
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "the file ends inside a row"
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    assert rows[0] == list(COLUMNS)
    out = []
    for values in rows[1:]:
        assert len(values) == len(COLUMNS), values
        row = dict(zip(COLUMNS, values))
        for column in NUMERIC:
            if row[column] != "":
                assert math.isfinite(float(row[column])), (column, row[column])
        out.append(row)
    return out


def kill_and_resume(tmp_path: Path, seed: int) -> tuple[int, int]:
    """Kill a sweep at a random moment, check the file, resume; return (rows kept at the kill, rows lost)."""
    out = tmp_path / f"sweep-{seed}.csv"
    rng = random.Random(seed)
    # The kill moment is set by progress, not by the clock, so a fast or a loaded machine kills as often inside the
    # grid: once `rows` rows are on disk, after a random part of the next row's time (about 0.3 s a row).
    rows, delay = rng.randrange(1, EXPECTED_ROWS - 4), rng.uniform(0.0, 0.3)
    proc = subprocess.Popen([*PROCESS, *sweep_args(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while (out.read_bytes().count(b"\n") - 1 if out.exists() else 0) < rows:
        assert proc.poll() is None, "the sweep ended before the kill: make the grid larger"
        assert time.monotonic() < deadline, f"the sweep had not written {rows} rows after 300 s"
        time.sleep(0.01)
    time.sleep(delay)
    assert proc.poll() is None, "the sweep ended before the kill: make the grid larger"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    kept = complete_rows(out)
    code, _, err = run_cli(*sweep_args(out, "--resume"))  # the resume in-process: the kill is what needs a process
    assert code == 0, err
    final = complete_rows(out)
    keys = [row_key(r) for r in final]
    assert len(keys) == len(set(keys)), "duplicated rows after --resume"
    lost = sum(1 for r in kept if row_key(r) not in set(keys))
    assert len(final) == EXPECTED_ROWS and lost == 0
    return len(kept), lost


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kill_at_random_moments_loses_nothing(tmp_path: Path, seed: int) -> None:
    kill_and_resume(tmp_path, seed)


@pytest.mark.long
@pytest.mark.parametrize("seed", range(3, 13))
def test_kill_at_random_moments_loses_nothing_long(tmp_path: Path, seed: int) -> None:
    kill_and_resume(tmp_path, seed)


# ------------------------------------------------------------------------------- kill -9: ablate, baseline write

ABLATE = [
    "--modules",
    "se",
    "--width",
    "0.35",
    "--input",
    "16",
    "--epochs",
    "1",
    "--seeds",
    "2",
    "--batch",
    "32",
    "--train-samples",
    "96",
    "--test-samples",
    "48",
    "--threads",  # part of a run's resume key: the killed process and the in-process resume name the same count
    "1",
    "--quiet",
]
ABLATE_RUNS = 4  # (none, se) × 2 seeds


def ablate_args(out: Path, checkpoints: Path, *extra: str) -> list[str]:
    return [
        "ablate",
        *ABLATE,
        "--csv",
        str(out),
        "--checkpoint-dir",
        str(checkpoints),
        *extra,
    ]


def ablation_rows(path: Path) -> list[dict[str, str]]:
    """Every row of an ablation CSV, asserting each is complete and parses as a record."""
    from attnbench.ablation.records import COLUMNS as ABLATION_COLUMNS
    from attnbench.ablation.records import read_records

    if not path.exists():
        return []
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "the file ends inside a row"
    rows = list(csv.reader(io.StringIO(text)))
    if rows:
        assert rows[0] == list(ABLATION_COLUMNS)
        assert all(len(r) == len(ABLATION_COLUMNS) for r in rows[1:]), "a torn or glued row"
    records = read_records(path)  # every value parses
    assert len(records) == max(0, len(rows) - 1)
    return [dict(zip(ABLATION_COLUMNS, r)) for r in rows[1:]]


def wait_until(predicate, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("the command ended (or timed out) before the moment to kill it")


def kill_ablate_and_resume(tmp_path: Path, seed: int) -> None:
    """Kill an ablation after a random number of finished runs plus a random delay; check; resume."""
    rng = random.Random(seed)
    out, checkpoints = tmp_path / f"ablate-{seed}.csv", tmp_path / f"ck-{seed}"
    proc = subprocess.Popen(
        [*PROCESS, *ablate_args(out, checkpoints)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        finished = rng.randrange(0, ABLATE_RUNS - 1)  # kill while at least two runs are still to go
        wait_until(lambda: len(ablation_rows(out)) >= finished, proc)
        time.sleep(rng.uniform(0.0, 1.0))  # anywhere in the next run: training, a checkpoint write, evaluation
        assert proc.poll() is None, "the ablation ended before the kill: make it longer"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kept = ablation_rows(out)
    code, _, err = run_cli(*ablate_args(out, checkpoints, "--resume"))
    assert code == 0, err
    final = ablation_rows(out)
    keys = [(r["module"], r["seed"]) for r in final]
    assert sorted(keys) == sorted((m, str(s)) for m in ("none", "se") for s in range(2)), "missing or duplicated runs"
    assert final[: len(kept)] == kept, "a row written before the kill changed or went missing"
    assert all(r["status"] == "ok" for r in final)


@pytest.mark.slow
def test_kill_ablate_at_a_random_moment_loses_nothing(tmp_path: Path) -> None:
    kill_ablate_and_resume(tmp_path, 0)


@pytest.mark.long
@pytest.mark.parametrize("seed", range(1, 9))
def test_kill_ablate_at_random_moments_loses_nothing_long(tmp_path: Path, seed: int) -> None:
    kill_ablate_and_resume(tmp_path, seed)


SLOW_WRITES = """
import sys
import time

from attnbench.io import durable

_real = durable._write


def _slow(fd, data):  # a slow disk: 16 bytes per write, so that a kill can land inside the write
    time.sleep(0.02)
    return _real(fd, bytes(data[:16]))


durable._write = _slow
from attnbench.cli import app

app.main(sys.argv[1:])
"""
BASELINE_ARGS = ["--modules", "se,ca", "--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--no-latency", "-q"]


def kill_baseline_write(tmp_path: Path, seed: int) -> None:
    """Kill ``baseline write`` over an existing baseline at a random moment: before the write (odd seeds) or inside
    it (even seeds); the file must then be the old one, byte for byte, or the complete new one."""
    from attnbench.cost.baseline import read_baseline

    rng = random.Random(seed)
    launcher = tmp_path / "slow_writes.py"
    launcher.write_text(SLOW_WRITES)
    path = tmp_path / "base.csv"
    code, _, err = run_cli("baseline", "write", str(path), *BASELINE_ARGS)  # the old file, written in-process
    assert code == 0, err
    old = path.read_bytes()
    old_rows = read_baseline(path)
    # another set of rows for the new file (se only), so that old and new differ
    args = [sys.executable, str(launcher), "baseline", "write", str(path), *BASELINE_ARGS, "--modules", "se"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if seed % 2:
            time.sleep(rng.uniform(0.2, 2.0))  # while starting up or measuring
        else:
            wait_until(lambda: any(tmp_path.glob(".base.tmp-*.csv")), proc)
            time.sleep(rng.uniform(0.0, 0.3))  # inside the write (about 0.5 s at 16 bytes per 20 ms)
        assert proc.poll() is None, "baseline write ended before the kill"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    now = path.read_bytes()
    if now != old:  # else: the old file, byte for byte
        rows = read_baseline(path)  # the whole new file: it parses, with every row
        assert [r.config["module"] for r in rows] == ["none", "se"]
        assert [(r.params, r.macs) for r in rows] == [(r.params, r.macs) for r in old_rows[:2]]
    # a temporary file the kill left behind does not stand in the way of the next write
    code, _, err = run_cli("baseline", "write", str(path), *BASELINE_ARGS)
    assert code == 0, err
    assert path.read_bytes().splitlines()[1:] != [] and len(read_baseline(path)) == 3


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_kill_baseline_write_leaves_the_old_file_or_the_whole_new_one(tmp_path: Path, seed: int) -> None:
    kill_baseline_write(tmp_path, seed)


@pytest.mark.long
@pytest.mark.parametrize("seed", range(2, 10))
def test_kill_baseline_write_at_random_moments_long(tmp_path: Path, seed: int) -> None:
    kill_baseline_write(tmp_path, seed)


def wait_for_rows(path: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if path.exists() and len(complete_rows(path)) >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {n} rows in {path} before the command ended")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sweep", "profile"])
def test_ctrl_c_keeps_finished_rows_and_exits_130(tmp_path: Path, command: str) -> None:
    out = tmp_path / "rows.csv"
    if command == "sweep":
        args = [*PROCESS, *sweep_args(out)]
        min_rows = 3
    else:  # a long timing phase to interrupt; its rows are not finished yet, so none may appear
        args = [
            *PROCESS,
            "profile",
            "--module",
            "se",
            "--input",
            "32",
            "--repeats",
            "100000",
            "--csv",
            str(out),
            "--quiet",
        ]
        min_rows = 0
    # A shell without job control starts background jobs with SIGINT ignored, and a child inherits that; restore
    # the default so the child behaves as under a terminal's Ctrl-C.
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        if min_rows:
            wait_for_rows(out, min_rows, proc)
        else:
            time.sleep(6)  # past the interpreter's imports even on a loaded machine (a SIGINT inside them is Python's)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    if command == "sweep":  # the line says where the finished rows are, and how to finish
        said = rf"Interrupted: the \d+ row\(s\) of finished configurations are in {re.escape(str(out))}; rerun with --resume to finish\."
    else:  # profile has no --resume: what it had measured (the counts, printed) and that the file took nothing
        said = rf"Interrupted: (nothing had been measured yet|the counts of \d+ row\(s\) are printed above, without latency); nothing was appended to {re.escape(str(out))}\."
    assert len(lines) == 1 and re.fullmatch(said, lines[0]), err
    assert len(complete_rows(out)) >= min_rows


FAILING_PLUGIN = """
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
            raise {error}
        return x * self.scale
"""


@pytest.mark.parametrize(
    "error, recorded",
    [
        (
            'RuntimeError("kernel failed on this shape")',
            "InsertionError: module 'fragile' fails inside 'r18' at position 'default': RuntimeError: kernel failed",
        ),
        pytest.param(
            'torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")',
            "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_failed_configuration_is_recorded_and_the_sweep_goes_on(tmp_path: Path, error: str, recorded: str) -> None:
    plugin = tmp_path / "fragile.py"
    plugin.write_text(FAILING_PLUGIN.format(error=error))
    out = tmp_path / "rows.csv"
    args = [
        *PROCESS,
        "sweep",
        "--modules",
        "fragile,se",
        "--backbones",
        "r18",
        "--widths",
        "0.35",
        "--inputs",
        "32,96",
        "--no-latency",
        "--csv",
        str(out),
        "--quiet",
        "--plugins",
        str(plugin),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    rows = complete_rows(out)
    status = {(r["module"], r["input_size"]): r["status"] for r in rows}
    # at 32 px every map fragile sees is ≤ 8 px wide; at 96 px layer1's blocks see 24 px and fail
    assert status == {
        ("none", "32"): "ok",
        ("fragile", "32"): "ok",
        ("se", "32"): "ok",
        ("none", "96"): "ok",
        ("fragile", "96"): "failed",
        ("se", "96"): "ok",
    }
    failed = next(r for r in rows if r["status"] == "failed")
    assert failed["error"].startswith(recorded) and failed["params"] == ""
    err_lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(err_lines) == 1 and err_lines[0].startswith("Error: 1 of 6 rows failed: r18/fragile ×0.35 @96")
    assert "Traceback" not in done.stderr
