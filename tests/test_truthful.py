"""Messages that tell the truth: what an interrupted profile had measured is printed, range errors name the range,
warnings follow ``--quiet`` and the options given, literal brackets survive the terminal renderer, and a plot of
thousands of models is drawn in seconds (labelling only the Pareto front past a limit, and saying so).
"""

from __future__ import annotations

import csv
import io
import random
import time
from pathlib import Path
from typing import Any

import pytest
from clihelp import error_line, run_cli

PROFILE = ("profile", "--module", "se", "--backbone", "r18", "--width", "0.35", "--input", "32")


def _interrupt_timing(*args: Any, **kwargs: Any) -> Any:
    raise KeyboardInterrupt


@pytest.mark.parametrize("csv_file", [False, True], ids=["no-csv", "csv"])
def test_profile_interrupted_while_timing_prints_the_counts_it_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, csv_file: bool
) -> None:
    from attnbench.cost import runner

    monkeypatch.setattr(runner, "_time_all", _interrupt_timing)
    out = tmp_path / "rows.csv"
    code, stdout, err = run_cli(*PROFILE, "--format", "csv", *(["--csv", str(out)] if csv_file else []))
    assert code == 130
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert [(r["module"], r["latency_stop"], r["latency_ms_median"]) for r in rows] == [
        ("none", "interrupted", ""),
        ("se", "interrupted", ""),
    ]
    assert all(int(r["params"]) > 0 and int(r["macs"]) > 0 for r in rows)
    written = f"nothing was appended to {out}" if csv_file else "nothing was written (no --csv)"
    assert err.splitlines() == [f"Interrupted: the counts of 2 row(s) are printed above, without latency; {written}."]
    assert not out.exists() or out.read_text() == ""  # only final rows are written, never one without its latency


MESSAGES = [
    ((*PROFILE, "--reduction", "100000"), 2, "Error: --reduction must be between 1 and 4096, got 100000."),
    ((*PROFILE, "--reduction", "0"), 2, "Error: --reduction must be between 1 and 4096, got 0."),
    ((*PROFILE, "--batch", "5000"), 2, "Error: --batch must be between 1 and 4096, got 5000."),
]


@pytest.mark.parametrize(("args", "code", "line"), MESSAGES, ids=["reduction-high", "reduction-0", "batch"])
def test_a_range_error_names_the_range(args: tuple[str, ...], code: int, line: str) -> None:
    got, out, err = run_cli(*args, "--no-latency")
    assert got == code and out == ""
    assert error_line(err) == line


@pytest.mark.parametrize(
    ("extra", "warned", "advice"),
    [
        ((), True, "raise --repeats (--max-time 0 takes exactly --repeats rounds)"),
        (("--quiet",), False, ""),
    ],
    ids=["advice-fits-max-time-0", "quiet"],
)
def test_warnings_follow_quiet_and_the_options_given(extra: tuple[str, ...], warned: bool, advice: str) -> None:
    # 5 rounds give no 95 % interval: the run warns, unless --quiet
    code, _, err = run_cli(*PROFILE, "--repeats", "5", "--max-time", "0", "--warmup", "1", "--format", "csv", *extra)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == (1 if warned else 0), err
    if warned:
        assert advice in warnings[0] and "raise --max-time" not in warnings[0] and "or --max-time" not in warnings[0]


def test_literal_brackets_survive_the_renderer(tmp_path: Path) -> None:
    code, out, err = run_cli("list", "--runtimes")
    assert code == 0, err
    assert "pip install -e '.[onnx]'" in out and "pip install -e '.[openvino]'" in out


def test_a_file_name_with_brackets_is_shown_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "run[1].csv"
    grid = "--modules se --backbones r18 --widths 0.35 --inputs 32 --no-latency --quiet".split()
    code, _, err = run_cli("sweep", *grid, "--csv", path)
    assert code == 0, err
    assert err.splitlines() == [f"2 rows appended to {path}"]
    code, out, err = run_cli("compare", path, path)
    assert code == 0 and f"A = {path}" in " ".join(out.split()), out


def test_a_plot_of_two_thousand_models_takes_seconds(tmp_path: Path) -> None:
    rng = random.Random(0)
    path = tmp_path / "many.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["backbone", "module", "width", "macs", "latency_ms_median"])
        for i in range(2000):
            w.writerow(["r18", f"m{i}", 1.0, rng.randint(10**6, 10**9), rng.uniform(1, 100)])
    start = time.perf_counter()
    code, _, err = run_cli("plot", path, "--x", "macs", "--y", "latency_ms_median")
    took = time.perf_counter() - start
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith(f"Warning: {path}: 2000 models, more than 100: labelled only the ")
    assert lines[0].endswith(" on the Pareto front.") and lines[1].startswith("wrote ")
    assert took < 120, took  # was quadratic: 600 models took 34 s, 2,000 more than 4 minutes
