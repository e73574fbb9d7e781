"""CSV text, read and written the same way everywhere: the one scanner of lines (torn tails, byte order marks, CRLF,
NUL bytes), the one reader of a file or of text shipped in the package, and the one encoder of rows (see ``csvfile``
for the decisions)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import AttnbenchError, ResultsFileError, opt
from .reading import PathLike, Rule, path_label, read_regular

if TYPE_CHECKING:  # only for annotations: at run time Python 3.10 has no typing.Self
    pass


BOM = b"\xef\xbb\xbf"


Row = Mapping[str, Any] | Sequence[Any]


@dataclass(frozen=True)
class _Record:
    line: int
    """Physical line the record starts on (the header is line 1)."""
    start: int
    end: int
    fields: list[str]


@dataclass(frozen=True)
class _Scan:
    records: list[_Record]
    """The complete records, header first (blank lines included, as ``[]``)."""
    tail: int
    """Offset of what follows the last complete record."""
    tail_line: int
    tail_fields: list[str] | None
    """The tail parsed as one record; ``None`` when it does not parse."""
    problem: tuple[int, str] | None
    """A complete line that is not CSV text: (line number, what is wrong)."""


class _BadLine(Exception):
    def __init__(self, index: int, why: str) -> None:
        super().__init__(why)
        self.index = index
        self.why = why


def _scan(data: bytes) -> _Scan:
    start = len(BOM) if data.startswith(BOM) else 0
    spans = []
    pos = start
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        spans.append((pos, end))
        pos = end
    n = len(spans)
    unterminated = n > 0 and not data.endswith(b"\n")

    def lines() -> Iterator[str]:
        for i, (a, b) in enumerate(spans):
            chunk = data[a:b]
            if b"\x00" in chunk:
                raise _BadLine(i, "holds NUL bytes")
            try:
                yield chunk.decode("utf-8")
            except UnicodeDecodeError:
                raise _BadLine(i, "is not UTF-8 text") from None

    # The reader is fed one physical line at a time, so after each record ``line_num`` says which bytes it used.
    reader = csv.reader(lines(), strict=True)
    records: list[_Record] = []
    first = 0  # index of the physical line the next record starts on
    tail_fields = None
    problem = None
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            first = n
            break
        except _BadLine as bad:
            if not (bad.index == n - 1 and unterminated):
                problem = (bad.index + 1, bad.why)
            break
        except csv.Error as exc:
            # Only the record running into the end of the file can be torn; a bad complete line is the user's.
            at_end = reader.line_num == n and (unterminated or "unexpected end of data" in str(exc))
            if not at_end:
                problem = (first + 1, f"is not valid CSV ({exc})")
            break
        if reader.line_num == n and unterminated:
            tail_fields = fields
            break
        records.append(_Record(first + 1, spans[first][0], spans[reader.line_num - 1][1], fields))
        first = reader.line_num
    tail = spans[first][0] if first < n else len(data)
    return _Scan(records, tail, first + 1, tail_fields, problem)


@dataclass(frozen=True)
class _Plan:
    header: list[str] | None
    """The file's header, once repaired; ``None`` when it has none yet."""
    rows: list[_Record]
    """The complete data records (blank lines left out), the repaired last row included."""
    keep: int
    """Length the file is cut back to (``len(data)`` when nothing is torn)."""
    torn: bytes
    tail_line: int
    """Line the tail (torn, or lacking its newline) starts on."""
    torn_fields: int
    newline: bytes
    """The line end a complete last row lacks (``b""`` when none is missing)."""
    terminator: str


def _check_header(path: Path, header: Sequence[str]) -> None:
    """Refuse a header that names a column twice (no reader could tell its two columns apart)."""
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise ResultsFileError(f"{path}:1: the header names column '{dupes[0]}' twice; fix the header.")


def _header_mismatch(label: str, header: Sequence[str], columns: Sequence[str]) -> ResultsFileError:
    for i, (a, b) in enumerate(zip(header, columns), start=1):
        if a != b:
            diff = f"column {i} is '{a}', this command writes '{b}'"
            break
    else:
        diff = f"it has {len(header)} columns, this command writes {len(columns)}"
    return ResultsFileError(
        f"{label} has other columns than this command writes ({diff}); choose a new file "
        "(rows are only appended to a file with the same header)."
    )


def _plan(data: bytes, columns: Sequence[str] | None, path: Path, option: str, fix: str | None = None) -> _Plan:
    """What appending to a file holding ``data`` does first; raises when it must not append at all.

    ``fix`` ends the message for a file that is not CSV text when it is read, not appended to (``read_table``).
    """
    scan = _scan(data)
    label = path_label(path, option)
    if scan.problem:
        line, why = scan.problem
        if line == 1:
            raise ResultsFileError(
                f"{label} is not a readable CSV (its first line {why}); {fix or 'choose a new file.'}"
            )
        where = f"{option} {path}:{line}" if option else f"{path}:{line}"
        then = "fix or remove that line." if fix else "fix or remove it, or choose a new file."
        raise ResultsFileError(f"{where}: this line {why}; {then}")
    tail = data[scan.tail :]
    cols = None if columns is None else list(columns)
    header: list[str] | None = None
    rows = [r for r in scan.records[1:] if r.fields]
    torn = newline = b""
    if scan.records:
        first = scan.records[0]
        header = first.fields
        _check_header(path, header)  # a broken header, not another tool's file: say what breaks it
        if cols is not None and header != cols:
            raise _header_mismatch(label, header, cols)
        terminator = "\r\n" if data[first.end - 2 : first.end] == b"\r\n" else "\n"
        if tail:
            if scan.tail_fields is not None and len(scan.tail_fields) == len(header):
                newline = b"\n" if tail.endswith(b"\r") else terminator.encode()
                rows.append(_Record(scan.tail_line, scan.tail, len(data), scan.tail_fields))
            else:
                torn = tail
    elif tail:
        terminator = "\r\n" if tail.endswith(b"\r") else "\n"
        if scan.tail_fields is not None:
            _check_header(path, scan.tail_fields)
        if scan.tail_fields is not None and (cols is None or scan.tail_fields == cols):
            header, newline = scan.tail_fields, b"\n"
        elif cols is not None and _encode(cols, "\n").startswith(tail):
            torn = tail
        elif scan.tail_fields is None:
            raise ResultsFileError(
                f"{label} is not a readable CSV (its only line is not UTF-8 CSV text); {fix or 'choose a new file.'}"
            )
        else:
            raise _header_mismatch(label, scan.tail_fields, cols or [])
    else:
        terminator = "\n"
    return _Plan(
        header=header,
        rows=rows,
        keep=len(data) - len(torn),
        torn=torn,
        tail_line=scan.tail_line,
        torn_fields=len(scan.tail_fields) if scan.tail_fields is not None else 0,
        newline=newline,
        terminator=terminator,
    )


class Table(NamedTuple):
    """A CSV as read back: its header, its rows with their line numbers, and the rows that cannot count."""

    header: list[str]
    """The column names; ``[]`` for a missing or empty file."""
    rows: list[tuple[int, dict[str, str]]]
    """``(line, {column: text})`` for every complete row with the header's field count; line 1 is the header."""
    bad: list[tuple[int, int]]
    """``(line, number of fields)`` of every row with another field count, a torn last line included."""


class Rows(NamedTuple):
    """The rows of a results CSV, for resuming."""

    rows: list[dict[str, str]]
    """The complete rows, in file order."""
    bad: int
    """How many rows had another field count than the header (a torn last line included): they are not done."""


def read_table(
    path: PathLike,
    columns: Sequence[str] | None = None,
    option: str = opt("csv"),
    *,
    fix: str | None = None,
    error: type[AttnbenchError] = ResultsFileError,
    missing_ok: bool = True,
    missing_fix: str | None = None,
) -> Table:
    """Read a CSV the way appending sees it, with the line number of every row.

    The path must be a regular file (``reading.read_regular``: a FIFO or a device is refused before it is read). A
    byte order mark and CRLF are ignored, a last row without its newline counts, a torn last line is reported in
    ``bad``; a complete line holding NUL bytes or bytes that are not UTF-8, and a header naming a column twice, are
    refused.

    Args:
        path: the CSV; symbolic links are followed.
        columns: the header the file must have; ``None`` accepts any.
        option: how the user gave the path, for the message.
        fix: how a message about the file ends (missing, not a regular file, unreadable, not CSV text); by default
            the words of a file rows are appended to.
        error: the error class raised (every one is bad input, exit code 2).
        missing_ok: a missing file is an empty table; with ``False`` it is refused.
        missing_fix: how the message for a missing file ends, when not as ``fix``.

    Returns:
        The table; empty (``Table([], [], [])``) when the file is missing (``missing_ok``) or empty.

    Raises:
        error: unreadable file, a line that is not CSV text (``file:line``), a header naming a column twice, or
            another header than ``columns``.
    """
    p = Path(os.fspath(path))
    label = path_label(path, option)
    data = read_regular(
        path, label, fix or "check the path.", error=error, missing_ok=missing_ok, missing_fix=missing_fix
    )
    if data is None:
        return Table([], [], [])
    try:
        plan = _plan(data, columns, p, option, fix)
    except ResultsFileError as exc:
        raise (exc if error is ResultsFileError else error(str(exc))) from None
    return _table(plan)


def _table(plan: _Plan) -> Table:
    header = plan.header or []
    rows, bad = [], []
    for r in plan.rows:
        if len(r.fields) == len(header):
            rows.append((r.line, dict(zip(header, r.fields))))
        else:
            bad.append((r.line, len(r.fields)))
    if plan.torn:
        bad.append((plan.tail_line, plan.torn_fields))
    return Table(header, rows, bad)


def parse_cell(text: str, kind: type, *, positive: bool = False) -> Any:
    """A cell of :func:`read_table` as a typed value, the same way for every reader (``reading.Rule``).

    Args:
        text: the cell; ``""`` is ``None`` for every kind but ``str``.
        kind: ``int`` (a whole, finite number; ``"3.0"`` is 3), ``float`` (finite), ``bool`` (true/false, 1/0,
            yes/no, any case) or ``str`` (as is).
        positive: numbers must be above zero.

    Raises:
        ValueError: naming what was expected, for the reader to prefix with ``file:line: column 'x'``.
    """
    return Rule(kind, low=0 if positive else None, above=positive).parse(text)


def read_rows(path: PathLike, columns: Sequence[str] | None = None, option: str = opt("csv")) -> Rows:
    """The complete rows of a results CSV as dicts, and how many rows had the wrong field count.

    Args:
        path: the CSV (missing or empty: no rows).
        columns: the header the file must have; ``None`` accepts any.
        option: how the user gave the path, for the message.

    Raises:
        ResultsFileError: as :func:`read_table`.
    """
    table = read_table(path, columns, option)
    return Rows([row for _, row in table.rows], len(table.bad))


def _encode(values: Sequence[Any], terminator: str) -> bytes:
    buf = io.StringIO()
    # With "\n" as the writer's line end a bare "\r" in a value goes out unquoted and ends the row early for every
    # reader; with "\r\n" the writer quotes both characters, and the line end is swapped afterwards.
    csv.writer(buf, lineterminator="\r\n").writerow(["" if v is None else v for v in values])
    text = buf.getvalue()[:-2] + terminator
    if "\x00" in text:
        raise ValueError("a CSV value holds a NUL character; results files cannot hold one")
    return text.encode("utf-8")


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> str:
    """A whole CSV (header and rows) as text, every cell encoded as appended rows are: ``None`` and NaN are empty
    cells, numbers are written raw (``repr``). The one writer behind ``--format csv``, the exports, baselines and
    result files.

    Args:
        columns: the header.
        rows: each a mapping (its values for ``columns``, missing ones empty) or a sequence in column order.
    """
    lines = [_encode(columns, "\n")]
    for r in rows:
        values = [r.get(c) for c in columns] if isinstance(r, Mapping) else list(r)
        lines.append(_encode([None if _is_nan(v) else v for v in values], "\n"))
    return b"".join(lines).decode("utf-8")


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value or type(value).__name__ in ("NAType", "NaTType")


def parse_text(text: str, name: str) -> Table:
    """A CSV held in memory (a data file shipped with the package), read as :func:`read_table` reads a file.

    Raises:
        ResultsFileError: the text is not CSV (``name:line``) or its header names a column twice.
    """
    return _table(_plan(text.encode("utf-8"), None, Path(name), "", "fix the file."))


def is_older_header(header: Sequence[str], columns: Sequence[str], added: Sequence[str]) -> bool:
    """Whether ``header`` is ``columns`` less some of ``added``, in the same order (an older attnbench's file)."""
    want = list(columns)
    return list(header) != want and list(header) == [c for c in want if c in header or c not in added]
