"""Fuzzed CLI input (hypothesis) never produces a traceback: exit 0, or 1/2 with one ``Error:`` line.

About 100 cases per command in the normal run. Each fuzzed option is added to a fast, valid base command.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from attnbench.cli import app as cli

FUZZ_COUNT = {"cases": 0, "tracebacks": 0}
_FUZZ_DIR = tempfile.mkdtemp(prefix="attnbench-fuzz-")

fuzz_text = st.one_of(
    st.text(max_size=24),
    st.integers(min_value=-(10**9), max_value=10**9).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "",
            " ",
            "-",
            "--",
            "0",
            "-1",
            "1e309",
            "nan",
            "inf",
            "0x10",
            "1,2",
            ",",
            "ca,",
            "none",
            "ca,cx",
            "cuda",
            "cuda:9",
            "mbv3",
            "r50 ",
            "CA",
            "mbv2",
            "se",
        ]
    ),
)

# Each fuzzed option is added to a fast, valid base command; values that are valid but expensive are skipped.
PROFILE_BASE = [
    "profile",
    "--module",
    "se",
    "--backbone",
    "mbv2",
    "--input",
    "32",
    "--no-latency",
    "--format",
    "csv",
    "--quiet",
]
PROFILE_OPTIONS = [
    "--module",
    "--backbone",
    "--width",
    "--input",
    "--batch",
    "--threads",
    "--csv",
    "--reduction",
    "--position",
    "--device",
    "--dtype",
    "--format",
    "--plugins",
    "--num-classes",
    "--repeats",
    "--warmup",
    "--weights",
    "--precision",
    "--max-time",
    "--bogus",
]


def _expensive(option: str, value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    limits = {"--input": 96, "--batch": 4, "--num-classes": 5000, "--threads": 4, "--reduction": 10**6}
    return option in limits and math.isfinite(number) and number > limits[option]


def _unsafe_path(option: str, value: str) -> bool:
    return option in ("--csv", "--plugins", "--weights") and (value.startswith(("/", "~")) or ".." in value)


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    cwd = os.getcwd()
    os.chdir(_FUZZ_DIR)  # relative --csv / --plugins paths land in a scratch folder
    try:
        with pytest.raises(SystemExit) as exc:
            cli.main(args)
    finally:
        os.chdir(cwd)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.err


def check_one_line(code: int, err: str) -> None:
    FUZZ_COUNT["cases"] += 1
    if "Traceback" in err:
        FUZZ_COUNT["tracebacks"] += 1
    assert "Traceback" not in err
    assert code in (0, 1, 2), (code, err)
    if code:
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("Error:")]
        assert len(errors) == 1 and lines[0] == errors[0], err
        assert all(line == errors[0] or line == "Set ATTNBENCH_DEBUG=1 for the traceback." for line in lines), err


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.slow
@FUZZ
@given(option=st.sampled_from(PROFILE_OPTIONS), value=fuzz_text)
def test_fuzz_profile_options(option: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assume(not _expensive(option, value) and not _unsafe_path(option, value))
    code, err = run_main([*PROFILE_BASE, option, value], capsys)
    check_one_line(code, err)


@pytest.mark.slow
@FUZZ
@given(
    option=st.sampled_from(["--modules", "--backbones", "--widths", "--inputs", "--format", "--csv"]), value=fuzz_text
)
def test_fuzz_sweep_options(option: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assume(not _unsafe_path(option, value))
    if option == "--inputs":  # every listed size must stay cheap
        assume(all(not _expensive("--input", v) for v in value.split(",")))
    base = [
        "sweep",
        "--modules",
        "se",
        "--backbones",
        "mbv2",
        "--widths",
        "0.35",
        "--inputs",
        "32",
        "--no-latency",
        "--quiet",
    ]
    code, err = run_main([*base, option, value], capsys)
    check_one_line(code, err)


@pytest.mark.slow
@FUZZ
@given(command=st.sampled_from(["table", "check", "plot", "baseline-write"]), value=fuzz_text)
def test_fuzz_table_check_plot_arguments(command: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assume(not value.startswith("-") and not _unsafe_path("--csv", value))
    args = {
        "table": ["table", value, "--format", "csv", "--input", "32"],
        "check": ["check", value, "--only", "params", "--quiet"],
        "plot": ["plot", value],
        "baseline-write": ["baseline", "write", "b.csv", "--from", value],
    }[command]
    code, err = run_main(args, capsys)
    check_one_line(code, err)


# -- generated file contents for every reader ------------------------------------------------------------------

_VALID: dict[str, bytes] = {}


def _valid(kind: str) -> bytes:
    """A valid file of each kind the readers take, made once per process: results (a sweep's CSV), a baseline,
    and ablation-style rows with a learning curve."""
    if not _VALID:
        folder = tempfile.mkdtemp(prefix="attnbench-fuzz-valid-")
        results, base = os.path.join(folder, "r.csv"), os.path.join(folder, "b.csv")
        grid = ["--modules", "se", "--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--no-latency"]
        for args in (["sweep", *grid, "--quiet", "--csv", results], ["baseline", "write", base, "--from", results]):
            with pytest.raises(SystemExit) as done:
                cli.main(args)
            assert done.value.code in (0, None)
        with open(results, "rb") as f:
            _VALID["results"] = f.read()
        with open(base, "rb") as f:
            _VALID["baseline"] = f.read()
        _VALID["curves"] = b"module,data,top1,curve_top1\nnone,synthetic,0.5,0.25 0.5\nse,synthetic,0.6,0.3 0.6\n"
    return _VALID[kind]


cell_text = st.one_of(
    fuzz_text,
    st.sampled_from(["-5", "-1e-9", "0", "1e400", "nan", "-inf", "3.5", "", "\x00", '"', "a\nb", "1,2", "\ufeff"]),
)


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    """A valid file of ``kind`` with one to three edits: a cell replaced, a header name repeated, bytes inserted,
    the file cut, a byte order mark or CRLF line ends added."""
    data = _valid(kind)
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["cell", "header", "bytes", "cut", "bom", "crlf", "row"]))
        lines = data.split(b"\n")
        if edit == "cell" and len(lines) > 2:
            i = draw(st.integers(0, len(lines) - 2))
            fields = lines[i].split(b",")
            j = draw(st.integers(0, len(fields) - 1))
            fields[j] = draw(cell_text).encode("utf-8", "surrogatepass")
            lines[i] = b",".join(fields)
            data = b"\n".join(lines)
        elif edit == "header":
            names = lines[0].split(b",")
            names[draw(st.integers(0, len(names) - 1))] = draw(st.sampled_from(names))
            data = b"\n".join([b",".join(names), *lines[1:]])
        elif edit == "bytes":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif edit == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif edit == "bom":
            data = b"\xef\xbb\xbf" + data
        elif edit == "crlf":
            data = data.replace(b"\n", b"\r\n")
        else:
            data += draw(cell_text).encode("utf-8", "surrogatepass") + b"\n"
    return data


READERS = {
    "compare": ("results", ["compare", "{f}", "{f}", "--format", "csv"], True),
    "check": ("baseline", ["check", "{f}", "--only", "params", "--quiet"], True),
    "plot": ("results", ["plot", "{f}", "--x", "macs", "--y", "params", "--out", "{f}.png"], True),
    "plot-curves": ("curves", ["plot", "{f}", "--curves", "--out", "{f}.png"], True),
    "baseline-from": ("results", ["baseline", "write", "{f}.base.csv", "--from", "{f}"], True),
    "sweep-resume": (
        "results",
        "sweep --modules se --backbones r18 --widths 0.35 --inputs 32 --no-latency --quiet --csv {f} --resume".split(),
        False,
    ),
}
"""reader: (the kind of file it reads, its command line, whether it only reads the file)"""

FILES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.slow
@FILES
@given(reader=st.sampled_from(sorted(READERS)), data=st.data())
def test_fuzz_file_contents(reader: str, data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever a file holds, every reader answers with its result or one line (exit 2 for a bad file), never a
    traceback or a hang, and a reader that only reads leaves the file as it was."""
    kind, args, read_only = READERS[reader]
    _valid(kind)
    capsys.readouterr()  # the valid files are made once, by commands whose output is not this case's
    content = data.draw(mutated(kind))
    fd, name = tempfile.mkstemp(suffix=".csv", dir=_FUZZ_DIR)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    code, err = run_main([a.format(f=name) for a in args], capsys)
    FUZZ_COUNT["cases"] += 1
    FUZZ_COUNT["tracebacks"] += "Traceback" in err
    assert "Traceback" not in err and code in (0, 1, 2), (code, err)
    lines = [line for line in err.splitlines() if line.strip() and line != "Set ATTNBENCH_DEBUG=1 for the traceback."]
    errors = [line for line in lines if line.startswith("Error:")]
    # a bad file is exit 2 and one Error line; exit 1 is a measured outcome (a count that changed, rows of the file
    # marked failed), told by the command's own report with at most one Error line, after its summary
    assert len(errors) == (code == 2) or (code == 1 and len(errors) <= 1), err
    assert not errors or lines[-1] == errors[0], err
    if read_only:
        with open(name, "rb") as f:
            assert f.read() == content


def test_fuzz_summary(record_property: Any) -> None:
    """Runs last in this file: no fuzzed case this process ran ended in a traceback (under pytest-xdist, the cases of
    its own worker; each case also asserts it). The case count is a test property (in ``--junitxml`` reports), not a
    print, so a plain pytest run stays quiet."""
    record_property("fuzzed_cli_cases", FUZZ_COUNT["cases"])
    assert FUZZ_COUNT["tracebacks"] == 0, f"{FUZZ_COUNT['tracebacks']} of {FUZZ_COUNT['cases']} cases: traceback"
