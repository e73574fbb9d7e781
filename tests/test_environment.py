"""No traceback from the environment: names and paths the system refuses, stdout or stderr that cannot take the
output (a full device, a closed pipe), and output encodings without the characters of the tables.

Each case ends with its documented exit code and at most one ``Error:`` line: 2 for a path that is bad input, 1 for
output that was lost (the line goes to stderr when stderr can take it); everything written to files is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from clihelp import ANSI, error_line, run_cli

GRID = ("--modules", "se", "--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--no-latency", "--quiet")
PROFILE = ("profile", "--module", "se", "--backbone", "r18", "--width", "0.35", "--input", "32", "--no-latency")

LONG_NAME = "a" * 300 + ".csv"
DEEP = "/".join(["d" * 200] * 25) + "/x.csv"  # 5,000 bytes: over PATH_MAX (4096)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.csv"
    code, _, err = run_cli("sweep", *GRID, "--csv", path)
    assert code == 0, err
    return path


PATHS = {
    "profile": "--csv '{p}' cannot be checked (",
    "compare": "A '{p}' cannot be opened (",
    "plot": "results file '{p}' cannot be opened (",
    "check": "baseline '{p}' cannot be opened (",
    "baseline-from": "--from '{p}' cannot be opened (",
    "plot-out": "--out '{p}' cannot be checked (",
    "plugins": "plugin path '{p}' cannot be opened (",
    "weights": "checkpoint file {p} cannot be opened (",
    "sweep": "--csv '{p}' cannot be checked (",
}


def _command(which: str, path: str, good: Path, tmp: Path) -> list[str]:
    return {
        "profile": [*PROFILE, "--csv", path],
        "compare": ["compare", path, str(good)],
        "plot": ["plot", path],
        "check": ["check", path],
        "baseline-from": ["baseline", "write", str(tmp / "b.csv"), "--from", path],
        "plot-out": ["plot", str(good), "--x", "macs", "--y", "params", "--out", path],
        "plugins": ["list", "--plugins", path],
        "weights": ["profile", *"--module ca --backbone mbv2 --input 32 --no-latency --weights".split(), path],
        "sweep": ["sweep", *GRID, "--csv", path],
    }[which]


@pytest.mark.parametrize("kind", ["name", "path"])
@pytest.mark.parametrize("command", list(PATHS))
def test_a_path_the_system_refuses_is_one_line(tmp_path: Path, good: Path, command: str, kind: str) -> None:
    path = str(tmp_path / LONG_NAME) if kind == "name" else DEEP
    code, out, err = run_cli(*_command(command, path, good, tmp_path))
    assert code == 2 and out == "", err
    line = error_line(err)
    assert PATHS[command].format(p=path) in line, line
    why = "a name in the path is 304 bytes long, more than the 255" if kind == "name" else "bytes long, more than"
    assert why in line, line


def _env(buffered: bool | None = None) -> dict[str, str]:
    """The environment of a command's process: ``ATTNBENCH_DEBUG`` unset, no colour; ``buffered`` fixes how its stdout
    takes text (``None``: as this environment has it). A block-buffered stdout fails when the text is flushed
    (``GuardedStream.flush``), a written-through one (``PYTHONUNBUFFERED``) in the write itself
    (``GuardedStream.write``), so the cases that need one path fix it instead of depending on the environment."""
    env = {k: v for k, v in os.environ.items() if k != "ATTNBENCH_DEBUG"}
    if buffered is not None:
        env.pop("PYTHONUNBUFFERED", None)
        if not buffered:
            env["PYTHONUNBUFFERED"] = "1"
    return {**env, "NO_COLOR": "1"}


def _run(
    args: list[str], env: dict[str, str] | None = None, buffered: bool | None = None, **kw: object
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "attnbench", *args],
        env={**_env(buffered), **(env or {})},
        timeout=300,
        check=False,
        **kw,  # type: ignore[arg-type]
    )


SLOW = pytest.mark.slow  # the same guard through more commands: run by the test command, not by a bare pytest
# One case per way a stream is lost. Whatever the command, its output reaches the same guard (streams.GuardedStream
# around sys.stdout and sys.stderr): render's consoles, render.write_text and Typer's help all write there, and only
# cli/render imports rich (tests/test_layout.py). What differs is which stream, and whether the guard's write or its
# flush meets the error; each case fixes that (see _env) and runs the cheapest command that shows it: `table --list`
# and `plot` start without torch (0.3 s a process instead of 2 s).
FULL = [
    ("stdout", ["table", "--list"], False),  # stdout lost in a write: exit 1, the Error line last on stderr
    # ... lost in a flush: the summary, then the Error line, and the rows written all the same
    pytest.param("stdout", [*PROFILE, "--csv", "{tmp}/rows.csv"], True, marks=SLOW),
    pytest.param("stderr", ["plot", "{tmp}/missing.csv"], None, marks=SLOW),  # stderr lost: bad input keeps exit 2
    # both lost, buffered: exit 1, not the interpreter's 120 from an Error line left in stderr's buffer at exit
    ("both", ["table", "--list"], True),
]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    ("stream", "args", "buffered"),
    FULL,
    ids=["stdout-write-table-list", "stdout-flush-profile", "stderr-plot", "both-table-list"],
)
def test_a_full_device_on_stdout_or_stderr_is_one_line(
    good: Path, tmp_path: Path, stream: str, args: list[str], buffered: bool | None
) -> None:
    argv = [a.format(good=good, tmp=tmp_path) for a in args]
    with open("/dev/full", "w") as full:
        out = full if stream in ("stdout", "both") else subprocess.PIPE
        err = full if stream in ("stderr", "both") else subprocess.PIPE
        proc = _run(argv, buffered=buffered, stdout=out, stderr=err)
    stderr = ANSI.sub("", (proc.stderr or b"").decode())
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    bad_input = "missing.csv" in " ".join(argv)
    assert proc.returncode == (2 if bad_input else 1), stderr
    if stream == "stdout":  # the command's own lines (a summary on stderr), then the one Error line
        lines = stderr.splitlines()
        assert lines[-1].startswith("Error: stdout could not take all the output (the device is full)"), stderr
        assert not any(line.startswith("Error") for line in lines[:-1]), stderr
    if "--csv" in argv:  # the rows were written all the same
        assert (tmp_path / "rows.csv").read_text().count("\n") == 3


@pytest.mark.parametrize(
    ("args", "buffered"),
    [
        (["table", "--list"], False),  # render's console (every command's own output, see FULL); fails in a write
        pytest.param(["profile", "--help"], True, marks=SLOW),  # the help, written by Typer; fails in a flush
    ],
    ids=["write-table-list", "flush-profile-help"],
)
def test_a_pipe_closed_early_is_one_line(args: list[str], buffered: bool) -> None:
    """As ``| head -1`` once the reader is gone: the read end is closed before the command writes anything. Every
    command's output meets the closed pipe in one of these two guard calls (see FULL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "attnbench", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(buffered),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = ANSI.sub("", proc.stderr.read().decode())
    proc.wait(timeout=300)
    assert "Traceback" not in err and "Exception ignored" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 1 and lines == [
        "Error: stdout could not take all the output (the pipe was closed); the output there is incomplete."
    ], err


def _needs_stand_ins(text: str, encoding: str) -> bool:
    """Whether ``text`` holds a character ``encoding`` lacks that rich does not draw in ASCII by itself (a box line)."""

    def lacks(char: str) -> bool:
        try:
            char.encode(encoding)
        except UnicodeEncodeError:
            return True
        return False

    return any(lacks(c) and not unicodedata.name(c, "").startswith("BOX DRAWINGS") for c in text)


@pytest.mark.parametrize("encoding", ["ascii", pytest.param("latin-1", marks=SLOW)])
def test_an_output_encoding_without_our_characters_gets_ascii(encoding: str) -> None:
    """A real process under ``LANG=C``: the interpreter takes the encoding from the environment and ``main`` gives the
    real stdout the stand-ins. `table --list` starts without torch and prints a character both encodings lack (the
    minus of '100 − error'); what each command prints is checked in-process below, through the same streams."""
    code, utf8, _ = run_cli("table", "--list")
    assert code == 0 and _needs_stand_ins(utf8, encoding)  # so this case shows the stand-ins, not only rich's boxes
    proc = _run(
        ["table", "--list"], env={"LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": encoding}, capture_output=True
    )
    err = proc.stderr.decode(encoding)
    assert proc.returncode == 0 and "Traceback" not in err, err
    out = proc.stdout.decode(encoding)
    assert out.strip()
    if encoding == "ascii":
        assert out.isascii() and err.isascii()
        assert "?" not in out  # every character had a stand-in


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["list"], marks=SLOW),
        pytest.param(["list", "--runtimes"], marks=SLOW),
        [*PROFILE],
        pytest.param(["compare", "{good}", "{good}"], marks=SLOW),
        pytest.param(["table", "ca-table2", "--input", "32"], marks=SLOW),  # published notes: ≈ and …
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_every_character_a_command_prints_has_an_ascii_stand_in(good: Path, args: list[str]) -> None:
    """What each command prints, on ASCII streams: every character outside ASCII gets its stand-in.

    In-process: which characters reach the streams is the command's; how a stream of a given encoding takes them
    (``streams.guarded`` reconfigures it, rich reads its encoding) is the same in a process, whose own part (the
    encoding from the environment) the real-process test above covers. Latin-1 is not run per command: what it lacks
    is a part of what ASCII lacks, given the same stand-ins by the same streams, so a command that passes in ASCII
    passes in Latin-1; the latin-1 case above covers that encoding's own part."""
    code, out, err = run_cli(*[a.format(good=good) for a in args], encoding="ascii")
    assert code == 0 and "Traceback" not in err, err
    assert out.strip()
    assert out.isascii() and err.isascii()
    assert "?" not in out  # every character had a stand-in (box drawing, Δ, ±, ×, →, ≈, …)


def test_the_ascii_stand_ins_read_as_words() -> None:
    from attnbench.cli.streams import ERROR_HANDLER

    text = "Δlat: +31.2% [28.0, 34.1] ± 0.1 ms × 2 → ok; Δ against none ≥ 1"
    assert text.encode("ascii", ERROR_HANDLER) == (
        b"dlat: +31.2% [28.0, 34.1] +/- 0.1 ms x 2 -> ok; delta against none >= 1"
    )
