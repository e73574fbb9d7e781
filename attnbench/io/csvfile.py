"""Result files: CSVs appended one complete row at a time, never silently overwritten."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ResultsFileError


def read_header(path: Path) -> list[str] | None:
    """The first row of an existing CSV, ``None`` for a missing or empty file."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open(newline="") as f:
        return next(csv.reader(f), None)


def check_csv_target(path: Path, columns: Sequence[str]) -> None:
    """Fail before any measuring when ``path`` cannot take rows with ``columns``."""
    if path.is_dir():
        raise ResultsFileError(f"--csv '{path}' is a folder; give a file path such as {path / 'results.csv'}.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ResultsFileError(f"folder '{parent}' for --csv does not exist; create it or choose another path.")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ResultsFileError(f"--csv '{path}' is not writable; choose a path you can write to.")
    try:
        header = read_header(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ResultsFileError(f"--csv '{path}' exists but is not a readable CSV ({exc}); choose a new file.") from None
    if header is not None and header != list(columns):
        raise ResultsFileError(
            f"--csv '{path}' has other columns than this command writes; choose a new file "
            "(rows are only appended to a file with the same header)."
        )


def _line(values: Iterable[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def append_rows(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Append rows to ``path``, writing the header first when the file is new; return the rows written.

    Each row is one ``write`` of a complete line followed by flush and fsync, so an interruption at any moment
    leaves only complete rows behind.
    """
    check_csv_target(path, columns)
    n = 0
    with path.open("a", newline="") as f:
        if f.tell() == 0:
            f.write(_line(columns))
        for row in rows:
            f.write(_line(row.get(c) for c in columns))
            f.flush()
            os.fsync(f.fileno())
            n += 1
    return n
