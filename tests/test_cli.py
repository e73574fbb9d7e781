"""The CLI contract: results on stdout, one ``Error:`` line on stderr with exit code 2 (bad input) or 1 (a failure
the user can act on), no traceback, ``--csv`` appends under a checked header, and ``--plugins`` registers user modules.

Most runs call ``attnbench.cli.app.main`` in-process (fast; it is where errors are mapped to exit codes). Runs that
register plugins go through a subprocess, because the registries are process-global.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import typer.main
from clihelp import error_line, run_cli
from typer.testing import CliRunner

import attnbench
from attnbench import errors
from attnbench.cli import app as cli
from attnbench.cost.records import COLUMNS, ProfileRecord
from attnbench.modules import ATTENTION, BACKBONES

# Channels each in-block module sees in mbv2 at width 1.0 (after the depthwise conv), in forward order.
MBV2_HIDDEN = [96, 144, 144, 192, 192, 192, 384, 384, 384, 384, 576, 576, 576, 960, 960, 960]
MBV2_PARAMS = 3_504_872

INT_COLUMNS = [f.name for f in dataclasses.fields(ProfileRecord) if f.type in ("int", "int | None")]

FAST = ("--input", "64", "--no-latency")
TINY = ("--input", "32", "--no-latency")  # for subprocess runs: the smallest input mbv2 takes


def parse_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    return header, [dict(zip(header, r, strict=True)) for r in body]


# --------------------------------------------------------------------------------------------------- list / help


def test_list_names_every_registered_entry() -> None:
    result = CliRunner().invoke(cli.app, ["list"])
    assert result.exit_code == 0, result.output
    assert "Attention modules" in result.stdout and "Backbones" in result.stdout
    cells = {c.strip() for line in result.stdout.splitlines() for c in line.split("│")}
    for name in (*ATTENTION.names(), *BACKBONES.names()):
        assert name in cells, f"'{name}' missing from `attnbench list`"
    assert result.stderr == ""


def test_no_args_prints_help_and_exits_0() -> None:
    code, out, err = run_cli(subprocess_=True)
    assert code == 0
    assert "Usage: attnbench" in out
    assert "profile" in out and "list" in out
    assert "Traceback" not in out + err
    assert "Error" not in err


def test_profile_help_lists_options() -> None:
    result = CliRunner().invoke(cli.app, ["profile", "--help"])
    assert result.exit_code == 0
    for opt in ("--module", "--backbone", "--width", "--input", "--csv", "--format", "--plugins", "--device"):
        assert opt in result.stdout


def _commands() -> dict[str, Any]:
    """Every command path (``baseline write`` included) → its command object."""
    group = typer.main.get_command(cli.app)
    out = {}
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", None)
        out.update({f"{name} {n}": c for n, c in subs.items()} if subs else {name: cmd})
    return out


def _options(cmd: Any) -> dict[str, Any]:
    return {p.name: p for p in cmd.params if p.param_type_name == "option"}


def test_version_and_completion() -> None:
    code, out, err = run_cli("--version")
    assert (code, out, err) == (0, f"attnbench {attnbench.__version__}\n", "")
    code, out, _ = run_cli("--help")
    assert code == 0 and "--install-completion" in out and "--show-completion" in out and "--version" in out


@pytest.mark.parametrize("path", ["", *sorted(_commands())])
def test_help_shows_no_value_placeholder_on_flags(path: str) -> None:
    code, out, err = run_cli(*path.split(), "--help")
    assert code == 0, err
    assert "<bool>" not in out
    assert "--help" in out


# Options whose absence is the default: no file, no plugin, no checkpoint, no filter.
NO_DEFAULT = {
    "csv",
    "plugins",
    "weights",
    "from_csv",
    "checkpoint_dir",
    "where",
    "export_csv",
    "export_json",
    "export_md",
}


@pytest.mark.parametrize("path", sorted(_commands()))
def test_every_option_shows_its_default(path: str) -> None:
    for name, opt in _options(_commands()[path]).items():
        if opt.is_flag or name in NO_DEFAULT:
            continue
        shown = opt.show_default
        assert isinstance(shown, str) or (shown is not False and opt.default is not None), f"{path} --{name}"


def test_measurement_options_are_the_same_everywhere() -> None:
    from attnbench.cli.options import MEASUREMENT, TIMING, Measurement

    cmds = _commands()
    wanted = {
        "profile": set(MEASUREMENT),
        "sweep": set(MEASUREMENT),
        "baseline write": set(MEASUREMENT) - {"mode", "match_params"},
        "table": set(MEASUREMENT) - {"reduction", "match_params", "mode"},
        "check": set(TIMING),
    }
    defaults = Measurement()
    for path, names in wanted.items():
        opts = _options(cmds[path])
        assert names <= set(opts), (path, names - set(opts))
        for n in names:
            assert opts[n].default == getattr(defaults, n), (path, n)
            assert opts[n].help == _options(cmds["profile"])[n].help, (path, n)
    assert {"precision", "max_time", "repeats"} <= set(MEASUREMENT)


def test_format_help_agrees_with_the_default() -> None:
    code, out, _ = run_cli("sweep", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "[default: csv]" in text and "default)" not in text
    for path in ("profile", "sweep", "table"):
        assert _options(_commands()[path])["format"].help == _options(_commands()["profile"])["format"].help


def test_sweep_and_table_write_json() -> None:
    code, out, err = run_cli(
        "sweep", "--modules", "se", "--widths", "0.35", "--inputs", "32", "--no-latency", "--format", "json", "--quiet"
    )
    assert code == 0, err
    rows = json.loads(out)
    assert [r["module"] for r in rows] == ["none", "se"] and rows[1]["d_params"] > 0


def test_profile_title_names_the_width() -> None:
    code, out, err = run_cli("profile", "--module", "se", "--width", "0.5", *FAST)
    assert code == 0, err
    assert out.splitlines()[0].startswith("mbv2 width 0.5 @ 64 px, batch 1, cpu (")


def test_bad_precision_is_one_error_line() -> None:
    code, out, err = run_cli("profile", "--module", "se", *FAST, "--precision", "2")
    assert (code, out) == (2, "")
    assert "--precision '2' is not a precision; use a percentage above 0 and below 100, e.g. 2%." in error_line(err)


# ------------------------------------------------------------------------------------- --format and --csv output


@pytest.fixture(scope="module")
def ca_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two counts-only runs of ca in mbv2 into one --csv file: first --format csv, then --format json."""
    path = tmp_path_factory.mktemp("csv") / "r.csv"
    args = ("profile", "--module", "ca", "--backbone", "mbv2", *FAST, "--csv", str(path))
    first = run_cli(*args, "--format", "csv")
    file_after_first = path.read_text() if path.exists() else None
    second = run_cli(*args, "--format", "json")
    return {"path": path, "first": first, "file1": file_after_first, "second": second, "file2": path.read_text()}


def test_format_csv_header_and_rows(ca_runs: dict) -> None:
    code, out, err = ca_runs["first"]
    assert code == 0, err
    assert "Traceback" not in err and "Error" not in err
    header, rows = parse_csv(out)
    assert header == list(COLUMNS)
    assert [r["module"] for r in rows] == ["none", "ca"]
    base, ca = rows
    for r in rows:
        assert (r["backbone"], r["input_size"], r["batch"], r["device"], r["dtype"], r["threads"], r["build"]) == (
            "mbv2",
            "64",
            "1",
            "cpu",
            "float32",
            "1",
            "eager",
        )
        assert float(r["width"]) == 1.0
        # --no-latency: every latency column is empty
        for col in ("latency_ms_median", "latency_ms_iqr", "latency_n", "throughput_ips", "d_latency_pct", "allocator"):
            assert r[col] == "", col
        assert r["torch_version"] == torch.__version__
    assert (base["position"], base["reduction"], int(base["attn_count"]), int(base["attn_params"])) == ("", "", 0, 0)
    assert int(base["params"]) == MBV2_PARAMS
    assert (int(base["d_params"]), int(base["d_macs"]), int(base["d_elementwise_ops"])) == (0, 0, 0)
    assert ca["position"] == "after_dw"
    assert float(ca["reduction"]) == 32
    assert int(ca["attn_count"]) == 16
    # CA: conv1 (C·mip + mip), bn1 (2·mip), conv_h and conv_w (mip·C + C each), mip = max(8, C // 32)
    expected_attn = sum(3 * c * max(8, c // 32) + 3 * max(8, c // 32) + 2 * c for c in MBV2_HIDDEN)
    assert int(ca["attn_params"]) == expected_attn == 445_776
    assert int(ca["params"]) == MBV2_PARAMS + expected_attn
    assert int(ca["d_params"]) == expected_attn
    assert int(ca["d_macs"]) == int(ca["macs"]) - int(base["macs"]) > 0
    assert int(ca["d_elementwise_ops"]) == int(ca["elementwise_ops"]) - int(base["elementwise_ops"]) > 0
    assert 0 < int(ca["attn_macs"]) <= int(ca["d_macs"])


def test_format_json_is_a_list_of_two_records(ca_runs: dict) -> None:
    code, out, err = ca_runs["second"]
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, list) and len(data) == 2
    assert all(isinstance(r, dict) and list(r) == list(COLUMNS) for r in data)
    assert [r["module"] for r in data] == ["none", "ca"]
    assert data[0]["params"] == MBV2_PARAMS
    assert data[1]["attn_count"] == 16
    assert data[0]["latency_ms_median"] is None and data[1]["d_latency_pct"] is None


def test_csv_file_created_then_appended(ca_runs: dict) -> None:
    path = ca_runs["path"]
    assert ca_runs["file1"] is not None, "--csv did not create the file"
    header, rows = parse_csv(ca_runs["file1"])
    assert header == list(COLUMNS)
    assert [r["module"] for r in rows] == ["none", "ca"]
    text = ca_runs["file2"]
    assert text.startswith(ca_runs["file1"]), "the second run rewrote the first run's rows"
    lines = text.splitlines()
    assert len(lines) == 5
    assert sum(1 for line in lines if line == ",".join(COLUMNS)) == 1, "header written twice"
    header, rows = parse_csv(text)
    assert [r["module"] for r in rows] == ["none", "ca", "none", "ca"]
    assert int(rows[0]["params"]) == int(rows[2]["params"]) == MBV2_PARAMS
    # the count of rows appended is reported on stderr, not stdout
    assert f"2 rows appended to {path}" in ca_runs["first"][2]
    assert "appended" not in ca_runs["first"][1]


def test_stdout_csv_rows_equal_csv_file_rows(ca_runs: dict) -> None:
    _, stdout_rows = parse_csv(ca_runs["first"][1])
    _, file_rows = parse_csv(ca_runs["file1"])
    assert stdout_rows == file_rows


def test_format_json_integer_columns_are_integers(ca_runs: dict) -> None:
    data = json.loads(ca_runs["second"][1])
    for row in data:
        for col in INT_COLUMNS:
            assert row[col] is None or isinstance(row[col], int), (row["module"], col, row[col])


def test_csv_with_other_header_is_refused_and_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    before = path.read_bytes()
    code, out, err = run_cli("profile", "--module", "ca", *FAST, "--format", "csv", "--csv", str(path))
    assert code == 2
    assert out == ""
    line = error_line(err)
    assert f"--csv '{path}' has other columns than this command writes" in line
    assert path.read_bytes() == before


def test_csv_in_missing_folder_fails_before_measuring(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "r.csv"
    t0 = time.perf_counter()
    # latency on and 224 px: measuring would take far longer than the limit below
    code, out, err = run_cli("profile", "--module", "ca", "--backbone", "mbv2", "--csv", str(path))
    elapsed = time.perf_counter() - t0
    assert code == 2
    assert out == ""
    line = error_line(err)
    assert f"folder '{path.parent}' for --csv" in line and "does not exist" in line
    assert elapsed < 5, f"took {elapsed:.1f}s: the path was checked after measuring"
    assert not path.parent.exists()


def test_csv_path_that_is_a_folder(tmp_path: Path) -> None:
    code, out, err = run_cli("profile", "--module", "ca", *FAST, "--csv", str(tmp_path))
    assert code == 2
    assert out == ""
    assert f"--csv '{tmp_path}' is a folder" in error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_count_only_profile_appends_each_row_as_soon_as_it_is_counted(tmp_path: Path) -> None:
    from attnbench.api import build_spec, run_profile

    out = tmp_path / "p.csv"
    seen: list[tuple[str, list[str]]] = []

    def progress(message: str) -> None:  # called before each model is counted
        if message.startswith("counting"):
            written = [r["module"] for r in parse_csv(out.read_text())[1]] if out.exists() else []
            seen.append((message.split()[-1], written))

    spec = build_spec(["se", "ca"], backbone="r18", width=0.35, input_size=32, latency=False, memory=False)
    run_profile(spec, csv=out, progress=progress)
    assert seen == [("none", []), ("se", ["none"]), ("ca", ["none", "se"])]
    assert [r["module"] for r in parse_csv(out.read_text())[1]] == ["none", "se", "ca"]


def test_timed_profile_writes_the_csv_before_showing_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attnbench.cli import render

    out = tmp_path / "p.csv"
    shown: list[int] = []
    monkeypatch.setattr(
        render.profile, "show_profile", lambda frame, *a, **k: shown.append(len(parse_csv(out.read_text())[1]))
    )
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
        "--repeats",
        "5",
        "--warmup",
        "1",
        "--max-time",
        "0",
        "--csv",
        out,
        "--quiet",
    )
    assert code == 0, err
    assert shown == [2]


def _weights_run(weights: Path, out: Path) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    # latency on at 224 px: measuring the baseline would take far longer than the tests' limit
    code, stdout, err = run_cli(
        "profile", "--module", "ca", "--backbone", "mbv2", "--weights", weights, "--csv", out, "--quiet"
    )
    return code, stdout, err, time.perf_counter() - t0


def test_missing_weights_fail_before_measuring(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    code, stdout, err, elapsed = _weights_run(tmp_path / "mbv2_ca.pth", out)
    assert code == 2 and stdout == ""
    assert "checkpoint file" in error_line(err) and "does not exist" in err
    assert elapsed < 10, f"took {elapsed:.1f}s: the weights were checked after measuring"
    assert not out.exists()


@pytest.mark.parametrize("content", ["junk", "unrelated"])
def test_bad_weights_fail_before_measuring_with_exit_2(tmp_path: Path, content: str) -> None:
    weights, out = tmp_path / "mbv2_ca.pth", tmp_path / "r.csv"
    if content == "junk":
        weights.write_bytes(b"not a checkpoint")
    else:  # a readable checkpoint of another model: keys that do not fit
        torch.save({"fc.weight": torch.zeros(2, 2)}, weights)
    code, stdout, err, elapsed = _weights_run(weights, out)
    assert code == 2 and stdout == ""
    error_line(err)
    assert elapsed < 10, f"took {elapsed:.1f}s: the weights were checked after measuring"
    assert not out.exists()


# ----------------------------------------------------------------------------------------------------- latency


def test_latency_run_fills_every_latency_and_env_column() -> None:
    code, out, err = run_cli(
        "profile",
        "--module",
        "ca",
        "--backbone",
        "mbv2",
        "--input",
        "32",
        "--repeats",
        "5",
        "--warmup",
        "1",
        "--max-time",
        "0",
        "--format",
        "json",
    )
    assert code == 0, err
    rows = json.loads(out)
    assert [r["module"] for r in rows] == ["none", "ca"]
    for r in rows:
        med, iqr = r["latency_ms_median"], r["latency_ms_iqr"]
        assert isinstance(med, float) and med > 0
        assert isinstance(iqr, float) and iqr >= 0
        assert r["latency_ms_min"] <= med
        assert r["latency_n"] == 5
        assert r["latency_calls_per_sample"] >= 1
        assert r["throughput_ips"] == pytest.approx(1 / (med / 1e3), rel=1e-9)
        assert isinstance(r["peak_mem_bytes"], int) and r["peak_mem_bytes"] > 0
        assert r["d_latency_pct"] is not None and math.isfinite(r["d_latency_pct"])
        assert r["torch_version"] == torch.__version__
        assert r["device_name"].strip() != ""
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["timestamp_utc"])
    base, ca = rows
    assert base["d_latency_pct"] == 0.0  # the median paired ratio; its value is checked in tests/test_timing.py
    assert ca["peak_mem_bytes"] > base["peak_mem_bytes"]
    # 5 paired samples (--max-time 0: no more) give no 95 % interval: the row says so on stderr, never in the JSON
    assert ca["d_latency_pct_ci_low"] is None and ca["d_latency_pct_ci_high"] is None
    assert err.splitlines() == [
        "Warning: ca (eager): no 95% interval for Δlatency from 5 paired samples (6 needed); raise --repeats "
        "(--max-time 0 takes exactly --repeats rounds)."
    ], err


# --------------------------------------------------------------------------------------------------- bad input

CHOICES_ATT = ", ".join(ATTENTION.names())

BAD_INPUT = [
    # (args, exit code, text the Error line must contain, whether the debug hint follows)
    pytest.param(
        ("--module", "cx"),
        2,
        f"unknown attention module 'cx'. Did you mean 'ca_x'? Choose from: {CHOICES_ATT}.",
        True,
        id="module-cx",
    ),
    pytest.param(
        ("--module", "caa"),
        2,
        f"unknown attention module 'caa'. Did you mean 'ca'? Choose from: {CHOICES_ATT}.",
        True,
        id="module-caa",
    ),
    pytest.param(
        ("--module", "ca,sse"), 2, "unknown attention module 'sse'. Did you mean 'se'?", True, id="module-list"
    ),
    pytest.param(
        ("--backbone", "mbv3"),
        2,
        "unknown backbone 'mbv3'. Did you mean 'mbv2'? Choose from: mbv2, mnext, r18, r50, mbv3_large,",
        True,
        id="backbone",
    ),
    pytest.param(("--width", "5"), 2, "--width 5.0 is outside 0.35-1.4 for backbone 'mbv2'.", True, id="width-5"),
    pytest.param(("--width", "nan"), 2, "--width nan is outside 0.35-1.4", True, id="width-nan"),
    pytest.param(("--width", "inf"), 2, "--width inf is outside 0.35-1.4", True, id="width-inf"),
    pytest.param(("--width", "abc"), 2, "Invalid value for '--width'", False, id="width-abc"),
    pytest.param(("--input", "8"), 2, "--input 8 does not fit backbone 'mbv2': use 32 to 4096", True, id="input-8"),
    pytest.param(("--input", "5000"), 2, "--input 5000 does not fit backbone 'mbv2'", True, id="input-5000"),
    pytest.param(("--batch", "0"), 2, "--batch must be between 1 and 4096, got 0.", True, id="batch-0"),
    pytest.param(("--threads", "0"), 2, "--threads must be between 1 and 1024, got 0.", True, id="threads-0"),
    pytest.param(("--num-classes", "0"), 2, "--num-classes must be between 1 and 100000, got 0.", True, id="classes"),
    pytest.param(("--warmup", "-1"), 2, "--warmup must be between 0 and 100000, got -1.", True, id="warmup"),
    pytest.param(
        ("--position", "nowhere"),
        2,
        "--position 'nowhere' is not a slot of 'mbv2'; choose from: after_dw, after_expand, block_end, stage.",
        True,
        id="position",
    ),
    pytest.param(
        ("--format", "xml"),
        2,
        "Invalid value for '--format': Value error, 'xml' is not one of 'table', 'csv', 'json', 'md', 'latex'.",
        False,
        id="format",
    ),
    pytest.param(
        ("--dtype", "float64"), 2, "'float64' is not one of 'float32', 'bfloat16', 'float16'", False, id="dtype-float64"
    ),
    pytest.param(("--dtype", "float16"), 2, "--dtype float16 needs --device cuda", True, id="dtype-float16-cpu"),
    pytest.param(("--device", "tpu"), 2, "unknown device 'tpu'; use 'cpu', 'cuda' or 'cuda:N'.", True, id="tpu"),
    pytest.param(("--device", "cuda:abc"), 2, "unknown device 'cuda:abc'", True, id="cuda-abc"),
    pytest.param(("--modul", "ca"), 2, "No such option: --modul", False, id="unknown-option"),
    pytest.param(("--reduction", "0"), 2, "--reduction must be between 1 and 4096, got 0.", True, id="reduction-0"),
    pytest.param(("--module", "none"), 2, "'none' is the baseline and always measured", True, id="module-none"),
    pytest.param(("--module", " , "), 2, "no attention module given", True, id="module-empty"),
]


@pytest.mark.parametrize(("args", "code", "text", "hint"), BAD_INPUT)
def test_bad_input_is_one_error_line(args: tuple[str, ...], code: int, text: str, hint: bool) -> None:
    got, out, err = run_cli("profile", *FAST, "--format", "csv", *args)
    assert got == code, err
    assert out == ""
    assert text in error_line(err, hint=hint)


def test_too_few_repeats_for_a_latency_run() -> None:
    # --repeats only matters when timing, so this run keeps latency on (the error comes before any measuring)
    got, out, err = run_cli("profile", "--module", "ca", "--input", "32", "--repeats", "2", "--format", "csv")
    assert got == 2
    assert out == ""
    assert "--repeats must be at least 5 for a median and IQR, got 2." in error_line(err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_cuda_exits_1(device: str) -> None:
    got, out, err = run_cli("profile", *FAST, "--device", device)
    assert got == 1
    assert out == ""
    line = error_line(err)
    assert f"device '{device}' requested but CUDA is not available" in line
    assert "--device cpu" in line


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_missing_cuda_index_exits_1() -> None:
    got, out, err = run_cli("profile", *FAST, "--device", "cuda:99")
    assert got == 1
    assert out == ""
    assert "device 'cuda:99' requested but only" in error_line(err)


@pytest.mark.parametrize(
    ("args", "code", "text", "hint"),
    [
        (("--module", "cx"), 2, "unknown attention module 'cx'", True),
        pytest.param(("--width", "abc"), 2, "Invalid value for '--width'", False, marks=pytest.mark.slow),
        pytest.param(("--modul", "ca"), 2, "No such option: --modul", False, marks=pytest.mark.slow),
        pytest.param(
            ("--device", "cuda" if not torch.cuda.is_available() else "tpu"),
            1 if not torch.cuda.is_available() else 2,
            "CUDA is not available" if not torch.cuda.is_available() else "unknown device 'tpu'",
            True,
            marks=pytest.mark.slow,
        ),
    ],
    ids=["unknown-module", "parse-error", "unknown-option", "device"],
)
def test_bad_input_in_a_real_process(args: tuple[str, ...], code: int, text: str, hint: bool) -> None:
    got, out, err = run_cli("profile", *FAST, *args, subprocess_=True)
    assert got == code, err
    assert out == ""
    assert "Traceback" not in out + err
    assert text in error_line(err, hint=hint)


def test_debug_env_shows_the_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTNBENCH_DEBUG", "1")
    with pytest.raises(errors.UnknownNameError, match="Did you mean 'mbv2'"):
        cli.main(["profile", "--backbone", "mbv3", *FAST])
    assert errors.UnknownNameError("x").exit_code == 2


def test_unexpected_exception_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import attnbench.api

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug, not a user error")

    monkeypatch.delenv("ATTNBENCH_DEBUG", raising=False)
    monkeypatch.setattr(attnbench.api, "run_profile", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["profile", "--module", "ca", *FAST])


# ----------------------------------------------------------------------------------------------------- plugins

MY_ATT = """\
import torch
from torch import nn

from attnbench.modules import ATTENTION


class MyAtt(nn.Module):
    def __init__(self, channels, *, reduction=16):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv(x))


ATTENTION.register("my_att", MyAtt, paper="test", hook="block")
"""

# 1×1 conv with bias, C → C, in every one of the 16 mbv2 blocks with expansion ≠ 1
MY_ATT_PARAMS = sum(c * c + c for c in MBV2_HIDDEN)


def plugin_with_forward(name: str, body: str) -> str:
    return f"""\
from torch import nn

from attnbench.modules import ATTENTION


class Plug(nn.Module):
    def __init__(self, channels, *, reduction=16):
        super().__init__()

    def forward(self, x):
        {body}


ATTENTION.register("{name}", Plug, paper="test", hook="block")
"""


def check_my_att_rows(code: int, out: str, err: str) -> None:
    assert code == 0, err
    header, rows = parse_csv(out)
    assert header == list(COLUMNS)
    assert [r["module"] for r in rows] == ["none", "my_att"]
    r = rows[1]
    assert int(r["attn_count"]) == 16
    assert int(r["attn_params"]) == MY_ATT_PARAMS == 4_518_336
    assert int(r["params"]) == MBV2_PARAMS + MY_ATT_PARAMS
    assert r["position"] == "after_dw"
    assert float(r["reduction"]) == 16  # the plugin's own default


def test_plugin_file(tmp_path: Path) -> None:
    plugin = tmp_path / "my_att.py"
    plugin.write_text(MY_ATT)
    check_my_att_rows(
        *run_cli(
            "profile",
            "--module",
            "my_att",
            "--backbone",
            "mbv2",
            *TINY,
            "--format",
            "csv",
            "--plugins",
            str(plugin),
            subprocess_=True,
        )
    )


@pytest.mark.slow
def test_plugin_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my_modules"
    folder.mkdir()
    (folder / "my_att.py").write_text(MY_ATT)
    (folder / "notes.txt").write_text("not python (\n")
    # the same file named twice (folder and file) is imported once, not registered twice
    check_my_att_rows(
        *run_cli(
            "profile",
            "--module",
            "my_att",
            "--backbone",
            "mbv2",
            *TINY,
            "--format",
            "csv",
            "--plugins",
            str(folder),
            "--plugins",
            str(folder / "my_att.py"),
        )
    )


@pytest.mark.slow
def test_list_shows_plugin_modules(tmp_path: Path) -> None:
    plugin = tmp_path / "my_att.py"
    plugin.write_text(MY_ATT)
    code, out, err = run_cli("list", "--plugins", str(plugin))
    assert code == 0, err
    row = next(line for line in out.splitlines() if "my_att" in line)
    assert "test" in row and "in block" in row and "reduction=16" in row


def test_plugin_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    plugin = tmp_path / "broken.py"
    plugin.write_text("x = 1\ndef f(:\n    pass\n")
    code, out, err = run_cli("profile", "--module", "ca", *FAST, "--plugins", str(plugin))
    assert code == 2
    assert out == ""
    assert f"plugin {plugin.resolve()}:2 failed to import" in error_line(err)


def test_plugin_import_error_names_file_and_line(tmp_path: Path) -> None:
    plugin = tmp_path / "needs_dep.py"
    plugin.write_text("import os\n\n\nraise ImportError('no module named fancy_dep')\n")
    code, out, err = run_cli("profile", "--module", "ca", *FAST, "--plugins", str(plugin))
    assert code == 2
    assert out == ""
    line = error_line(err)
    assert f"plugin {plugin.resolve()}:4 failed to import" in line
    assert "ImportError: no module named fancy_dep" in line


def test_plugin_registering_a_builtin_name(tmp_path: Path) -> None:
    plugin = tmp_path / "dup.py"
    plugin.write_text("from attnbench.modules import ATTENTION\n\nATTENTION.register('ca', lambda c, **kw: None)\n")
    code, out, err = run_cli("profile", "--module", "ca", *FAST, "--plugins", str(plugin))
    assert code == 2
    assert out == ""
    line = error_line(err)
    assert f"plugin {plugin.resolve()}:3 failed to import" in line
    assert "'ca' is already registered" in line


def test_missing_plugin_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    code, out, err = run_cli("profile", "--module", "ca", *FAST, "--plugins", str(missing))
    assert code == 2
    assert out == ""
    assert f"plugin path '{missing}' does not exist" in error_line(err)


def test_plugin_that_is_not_python(tmp_path: Path) -> None:
    plugin = tmp_path / "my_att.txt"
    plugin.write_text(MY_ATT)
    code, out, err = run_cli("profile", "--module", "ca", *FAST, "--plugins", str(plugin))
    assert code == 2
    assert "it must be a Python source file" in error_line(err)


@pytest.mark.parametrize("body", ["import sys\n\nsys.exit(3)\n", "raise SystemExit('bye')\n", "exit()\n"])
def test_plugin_calling_exit_is_a_plugin_error(tmp_path: Path, body: str) -> None:
    plugin = tmp_path / "quits.py"
    plugin.write_text(body)
    code, out, err = run_cli("profile", "--module", "ca", *FAST, "--plugins", str(plugin))
    assert code == 2
    assert out == ""
    line = error_line(err)
    assert f"plugin {plugin.resolve()}:" in line and "failed to import (SystemExit" in line


def test_plugin_folder_without_python_files(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("nothing here")
    (folder / "_private.py").write_text("")
    code, out, err = run_cli("profile", "--module", "ca", *FAST, "--plugins", str(folder))
    assert code == 2
    assert out == ""
    assert f"plugin folder '{folder}' holds no .py file" in error_line(err)


@pytest.mark.slow
def test_plugin_changing_channels_is_an_insertion_error(tmp_path: Path) -> None:
    plugin = tmp_path / "shrink.py"
    plugin.write_text(plugin_with_forward("shrink", "return x[:, :1]"))
    code, out, err = run_cli(
        "profile",
        "--module",
        "shrink",
        "--backbone",
        "mbv2",
        *TINY,
        "--format",
        "csv",
        "--plugins",
        str(plugin),
    )
    assert code == 1, err
    _, rows = parse_csv(out)  # the rows are still reported, the failed one marked
    assert [(r["module"], r["status"]) for r in rows] == [("none", "ok"), ("shrink", "failed")]
    assert "fails inside 'mbv2'" in rows[1]["error"] and rows[1]["params"] == ""
    assert error_line(err).startswith("Error: 1 of 2 rows failed: shrink (eager): InsertionError: module 'shrink'")


@pytest.mark.slow
def test_plugin_changing_spatial_size_is_an_insertion_error(tmp_path: Path) -> None:
    plugin = tmp_path / "pool.py"
    plugin.write_text(plugin_with_forward("pool_att", "return x.mean((2, 3), keepdim=True)"))
    code, out, err = run_cli(
        "profile",
        "--module",
        "pool_att",
        "--backbone",
        "mbv2",
        *TINY,
        "--format",
        "csv",
        "--plugins",
        str(plugin),
    )
    assert code == 1, out
    _, rows = parse_csv(out)
    assert [(r["module"], r["status"]) for r in rows] == [("none", "ok"), ("pool_att", "failed")]
    assert "must keep its input shape" in rows[1]["error"]
    assert "Error: 1 of 2 rows failed: pool_att" in error_line(err)


@pytest.mark.slow
def test_plugin_with_multiline_error_is_still_one_line(tmp_path: Path) -> None:
    plugin = tmp_path / "boom.py"
    plugin.write_text(plugin_with_forward("boom", 'raise RuntimeError("first line\\nsecond line")'))
    code, out, err = run_cli(
        "profile",
        "--module",
        "boom",
        "--backbone",
        "mbv2",
        *TINY,
        "--format",
        "csv",
        "--plugins",
        str(plugin),
    )
    assert code == 1
    _, rows = parse_csv(out)
    assert rows[1]["status"] == "failed" and "first line second line" in rows[1]["error"]  # one line in the CSV too
    assert "boom (eager): InsertionError: module 'boom' fails inside 'mbv2'" in error_line(err)
