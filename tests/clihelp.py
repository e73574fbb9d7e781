"""Shared helpers of the CLI tests: run ``attnbench`` and assert the one-line error contract."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attnbench.cli import app as cli

HINT = "Set ATTNBENCH_DEBUG=1 for the traceback."
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_cli(
    *args: str, subprocess_: bool = False, cwd: Path | None = None, encoding: str | None = None
) -> tuple[int, str, str]:
    """Run ``attnbench ARGS``; return (exit code, stdout, stderr) with ANSI codes stripped.

    In-process it calls ``cli.main`` (the entry point that maps errors); with ``subprocess_=True`` it runs
    ``python -m attnbench`` in a fresh interpreter. ``ATTNBENCH_DEBUG`` is always unset. ``encoding`` (in-process):
    stdout and stderr are text files of that encoding, strict, as a process gets them from ``PYTHONIOENCODING``.
    """
    if subprocess_:
        env = {k: v for k, v in os.environ.items() if k != "ATTNBENCH_DEBUG"}
        env["NO_COLOR"] = "1"
        proc = subprocess.run(
            [sys.executable, "-m", "attnbench", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=300,
            check=False,
        )
        return proc.returncode, ANSI.sub("", proc.stdout), ANSI.sub("", proc.stderr)
    saved = os.environ.pop("ATTNBENCH_DEBUG", None)
    streams = [
        io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict") if encoding else io.StringIO()
        for _ in range(2)
    ]
    try:
        with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
            with pytest.raises(SystemExit) as info:  # main always ends in sys.exit; an encoding error escapes it
                cli.main([str(a) for a in args])
    finally:
        if saved is not None:
            os.environ["ATTNBENCH_DEBUG"] = saved
    code = info.value.code
    code = code if isinstance(code, int) else (0 if code is None else 1)
    texts = []
    for stream in streams:
        if isinstance(stream, io.TextIOWrapper):
            stream.flush()
            texts.append(stream.buffer.getvalue().decode(encoding))  # type: ignore[attr-defined,arg-type]
        else:
            texts.append(stream.getvalue())
    return code, ANSI.sub("", texts[0]), ANSI.sub("", texts[1])


def error_line(stderr: str, *, hint: bool = True) -> str:
    """Assert stderr is exactly one ``Error:`` line (plus the debug hint for attnbench errors); return it."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    expected = 2 if hint else 1
    assert len(lines) == expected, f"expected {expected} stderr line(s), got {len(lines)}: {stderr!r}"
    assert lines[0].startswith("Error: "), stderr
    assert lines[0].strip() != "Error:"
    if hint:
        assert lines[1] == HINT
    return lines[0]
