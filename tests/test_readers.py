"""Every reader of an input file validates it the same way (``io.reading``, ``csvfile.read_table``).

Readers: ``compare`` (result files), ``check`` (baselines), ``plot`` and ``plot --curves``, ``sweep --resume`` (its
``--csv``), ``baseline write --from``. Each refuses, in one line and exit 2, a path that is not a regular file (a
FIFO never hangs it; ``/dev/null`` and ``/dev/zero`` are named for what they are), NUL bytes, a column named twice
and a value outside its column's rule (``FILE:LINE``, the column); each reads a byte order mark and CRLF line ends.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clihelp import error_line, run_cli

GRID = ("--modules", "se", "--backbones", "r18", "--widths", "0.35", "--inputs", "32", "--no-latency", "--quiet")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A valid results file, baseline and ablation-style file with a learning curve, as bytes."""
    d = tmp_path_factory.mktemp("valid")
    code, _, err = run_cli("sweep", *GRID, "--csv", d / "r.csv")
    assert code == 0, err
    code, _, err = run_cli("baseline", "write", d / "b.csv", "--from", d / "r.csv")
    assert code == 0, err
    curves = "module,data,top1,curve_top1\nnone,synthetic,0.5,0.25 0.5\nse,synthetic,0.6,0.3 0.6\n"
    return {"results": (d / "r.csv").read_bytes(), "baseline": (d / "b.csv").read_bytes(), "curves": curves.encode()}


# reader: (the file kind it reads, its command line with {f} for the file)
READERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "compare": ("results", ("compare", "{f}", "{good}")),
    "check": ("baseline", ("check", "{f}", "--only", "params", "--quiet")),
    "plot": ("results", ("plot", "{f}", "--x", "macs", "--y", "params", "--out", "{tmp}/p.png")),
    "plot-curves": ("curves", ("plot", "{f}", "--curves", "--out", "{tmp}/c.png")),
    "sweep-resume": ("results", ("sweep", *GRID, "--csv", "{f}", "--resume")),
    "baseline-from": ("results", ("baseline", "write", "{tmp}/out.csv", "--from", "{f}")),
}


def _args(reader: str, f: str | Path, tmp: Path, good: Path) -> list[str]:
    return [a.format(f=f, tmp=tmp, good=good) for a in READERS[reader][1]]


def _good(tmp: Path, files: dict[str, bytes]) -> Path:
    good = tmp / "good.csv"
    good.write_bytes(files["results"])
    return good


def _edit(data: bytes, column: str, value: str) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode())))
    rows[1][rows[0].index(column)] = value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def _dup_header(data: bytes) -> bytes:
    head, _, rest = data.partition(b"\n")
    names = head.split(b",")
    names[-1] = names[1]
    return b",".join(names) + b"\n" + rest


def _nul(data: bytes) -> bytes:
    head, _, rest = data.partition(b"\n")
    return head + b"\n" + rest[:5] + b"\x00" + rest[5:]


def _value(column: dict[str, str], value: dict[str, str]) -> Callable[[bytes, str], bytes]:
    return lambda data, kind: _edit(data, column[kind], value.get(kind, value["*"]))


# kind of bad content: (what it does to the valid bytes of each kind of file, what the line says)
BAD: dict[str, tuple[Callable[[bytes, str], bytes], str]] = {
    "nul-byte": (lambda data, kind: _nul(data), "holds NUL bytes"),
    "duplicate-header": (lambda data, kind: _dup_header(data), ":1: the header names column"),
    "negative-count": (
        _value({"results": "params", "baseline": "params", "curves": "curve_top1"}, {"*": "-5", "curves": "0.5 -5"}),
        ":2: column '",
    ),
    "not-finite": (
        _value({"results": "macs", "baseline": "latency_ratio", "curves": "curve_top1"}, {"*": "inf"}),
        ":2: column '",
    ),
}


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("reader", list(READERS))
def test_bad_content_is_one_line_naming_the_file(
    tmp_path: Path, files: dict[str, bytes], reader: str, bad: str
) -> None:
    kind = READERS[reader][0]
    mutate, says = BAD[bad]
    target = tmp_path / "in.csv"
    target.write_bytes(mutate(files[kind], kind))
    before = target.read_bytes()
    code, out, err = run_cli(*_args(reader, target, tmp_path, _good(tmp_path, files)))
    if reader == "plot" and bad == "not-finite":  # a plot leaves an infinite point out, saying so in one line
        assert code == 0 and f"Warning: {target}: skipped 1 row(s) whose 'macs' or 'params' is not a finite" in err
        return
    assert code == 2, err
    line = error_line(err)
    assert str(target) in line and says in line, line
    assert target.read_bytes() == before  # a reader never changes what it refuses


@pytest.mark.parametrize("reader", list(READERS))
def test_a_byte_order_mark_and_crlf_are_read(tmp_path: Path, files: dict[str, bytes], reader: str) -> None:
    kind = READERS[reader][0]
    target = tmp_path / "in.csv"
    target.write_bytes(b"\xef\xbb\xbf" + files[kind].replace(b"\n", b"\r\n"))
    code, _, err = run_cli(*_args(reader, target, tmp_path, _good(tmp_path, files)))
    assert code == 0, err
    assert "Error" not in err


SPECIAL = {
    "fifo": ("{tmp}/fifo.csv", "is not a regular file (it is a named pipe (FIFO))"),  # never waited on
    "dev-null": ("/dev/null", "is not a regular file (it is a character device)"),
    "dev-zero": ("/dev/zero", "is not a regular file (it is a character device)"),
    "folder": ("{tmp}", "is a folder"),
    "missing": ("{tmp}/missing.csv", "does not exist"),
}

WAIT_S = 30.0
"""How long a reader may take before :func:`_unblocked` takes it for one waiting on a FIFO (a correct one takes ms)."""


@contextlib.contextmanager
def _unblocked(fifo: str | Path | None) -> Iterator[list[str]]:
    """Run a reader in this process without the risk of a hang on ``fifo``.

    A reader that opens the FIFO to read, blocking (the bug these tests look for), waits for a writer: after
    ``WAIT_S`` a thread opens the write end and closes it again, so the reader reads nothing and returns instead of
    hanging the run. The yielded list then names the FIFO: the test asserts it stays empty. (A fresh interpreter
    under a timeout would do the same at 2-3 s a reader, most of it importing torch.)
    """
    waited: list[str] = []
    if fifo is None:
        yield waited
        return
    done = threading.Event()

    def writer() -> None:
        if done.wait(WAIT_S):
            return
        while not done.is_set():
            try:  # without a reader waiting, a non-blocking open of the write end fails at once (ENXIO)
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                done.wait(0.05)
                continue
            waited.append(str(fifo))
            os.close(fd)
            done.wait(0.05)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield waited
    finally:
        done.set()
        thread.join()


@pytest.mark.parametrize("special", list(SPECIAL))
@pytest.mark.parametrize("reader", [r for r in READERS if r != "sweep-resume"])
def test_a_path_that_is_not_a_regular_file_is_named_for_what_it_is(
    tmp_path: Path, files: dict[str, bytes], reader: str, special: str
) -> None:
    path, says = SPECIAL[special]
    path = path.format(tmp=tmp_path)
    if special == "fifo":
        os.mkfifo(path)
    with _unblocked(path if special == "fifo" else None) as waited:
        code, _, err = run_cli(*_args(reader, path, tmp_path, _good(tmp_path, files)))
    assert not waited, f"{reader} waited on the FIFO for a writer"
    assert code == 2, err
    line = error_line(err)
    assert f"'{path}' {says}" in line, line
    if special != "missing":
        assert "does not exist" not in line and "write one" not in line


@pytest.mark.slow
def test_a_fifo_is_refused_by_a_fresh_process(tmp_path: Path, files: dict[str, bytes]) -> None:
    """The FIFO case end to end: a reader in its own interpreter, under a hard timeout instead of the watchdog.

    One reader is enough here: each reader's own refusal (``io.reading``, before anything opens the path) is checked
    in-process above, where a blocking open is caught as surely; a fresh process adds nothing that differs between
    readers. It is `plot`, the reader that starts without torch (0.5 s instead of 3 s)."""
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    code, _, err = run_cli(*_args("plot", fifo, tmp_path, _good(tmp_path, files)), subprocess_=True)
    assert code == 2, err
    line = error_line(err)
    assert f"'{fifo}' {SPECIAL['fifo'][1]}" in line, line
    assert "does not exist" not in line and "write one" not in line


def test_resume_refuses_a_fifo_as_its_csv(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.csv")
    with _unblocked(tmp_path / "fifo.csv") as waited:
        code, _, err = run_cli("sweep", *GRID, "--csv", tmp_path / "fifo.csv", "--resume")
    assert not waited, "sweep --resume waited on the FIFO for a writer"
    assert code == 2 and "is not a regular file" in error_line(err)


def test_a_baseline_value_names_its_range(tmp_path: Path, files: dict[str, bytes]) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(_edit(files["baseline"], "latency_n", "-3"))
    code, _, err = run_cli("check", path, "--only", "params", "--quiet")
    assert code == 2
    assert (
        error_line(err)
        == f"Error: {path}:2: column 'latency_n' holds '-3', not a whole number ≥ 0; fix or rewrite the file."
    )


def test_the_committed_baseline_still_reads(tmp_path: Path) -> None:
    """The shared reader accepts every file attnbench committed (no rule is stricter than what it wrote)."""
    from attnbench.cost.baseline import read_baseline
    from attnbench.cost.compare import read_results

    root = Path(__file__).resolve().parents[1] / "results"
    assert read_baseline(root / "baselines" / "cost.csv")
    for f in sorted(root.glob("*.csv")):
        head = f.read_text(encoding="utf-8").partition("\n")[0].split(",")
        if "macs" in head and "status" in head and "backbone" in head and "module" in head and "top1" not in head:
            shutil.copy(f, tmp_path / f.name)
            assert read_results(tmp_path / f.name, "A").rows, f
