"""The one implementation of every file attnbench writes, and of reading its CSVs back.

Two kinds of file:

* **Result CSVs**, appended one complete row at a time (:class:`CsvAppender`). A row counts as written only after
  a single ``write`` of its whole line to an ``O_APPEND`` descriptor and an ``fsync``; a failed write is cut back
  off, so the file only ever holds complete rows, and the rows not written travel with the
  :class:`~attnbench.errors.CsvWriteError` to :func:`save_unsaved`. Before the first row goes in, the end of the
  file is checked: a last row that only lacks its final newline gets one; a torn last line is moved to
  ``<file>.torn`` (appended there, never deleted). No row is ever glued onto a torn line, and no byte that was in
  the file is deleted.
* **Whole files** (baselines, plots, checkpoints), replaced atomically (:func:`atomic_write`, :func:`atomic_path`).

Decisions, the same for every command:

* **Symbolic links are refused** as targets ("give the file it points to"): replacing a file atomically would
  replace the link itself rather than the file behind it, and ``.torn``/``.unsaved`` files would land beside the
  link instead of beside the data. Folders on the way to the file may be links. Reading follows links.
* **Text is UTF-8.** A byte order mark at the start of an existing file is kept and ignored. Rows appended to a file
  whose header ends in CRLF end in CRLF too, so a file keeps one line ending; new files get LF.
* **A complete line ends with a newline outside quotes.** What follows the last complete line is the file's *tail*.
  A tail that parses as one row with the header's field count only lacks its newline, and gets it. Any other tail
  (another field count, an unterminated quote, bytes that are not UTF-8, NUL bytes that a crash can leave) is a
  *torn* row and is moved aside. An unterminated quote runs to the end of the file, so everything from the row that
  opens it is moved (the notice names the lines). A write cut exactly inside the last field is indistinguishable
  from a complete row without its newline and is kept as a row; attnbench's own rows carry their newline in the
  same ``write``, so only a machine crash mid-write can leave one.
* **A complete line that is not CSV text** (not UTF-8, NUL bytes, a stray quote) is never cut off: the file is
  refused with its line number, because rows may follow it. Complete rows with another field count than the header
  are left in place; readers count them as not done.
* **A file removed or replaced while rows are appended** (by another program: deleted, renamed, a folder or other
  content put in its place) takes no more rows from that appender: they travel with the
  :class:`~attnbench.errors.CsvWriteError` to ``<file>.unsaved``, so results never split silently between two
  files or land in whatever now stands at the path.
* Only an **exact prefix of the header** is taken for a torn header (a crash while the header was written); any
  other first line that is not the header is refused as "other columns".

Writes go through the module-level ``_write`` and ``_fsync`` (``os.write``/``os.fsync``), so tests can make them
fail after any number of bytes.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import secrets
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import AttnbenchError, CsvWriteError, FileRepairNotice, FileWriteError, ResultsFileError, opt
from .reading import Rule, path_problem, read_regular

if TYPE_CHECKING:  # only for annotations: at run time Python 3.10 has no typing.Self
    from typing import Self

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so two processes appending at once are not kept apart there.
    fcntl = None  # type: ignore[assignment]

_write = os.write
_fsync = os.fsync

BOM = b"\xef\xbb\xbf"
TORN_SUFFIX = ".torn"
UNSAVED_SUFFIX = ".unsaved"

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

PathLike = str | os.PathLike[str]
Row = Mapping[str, Any] | Sequence[Any]


# --------------------------------------------------------------------------------------------------------------------
# Checks made before any measuring


def _label(path: PathLike, option: str) -> str:
    return f"{option} '{os.fspath(path)}'" if option else f"'{os.fspath(path)}'"


def _why(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__


def check_path(path: PathLike, option: str = opt("out")) -> Path:
    """Refuse, with one line naming the fix, a path that no file can be written to; return it as a ``Path``.

    Refused: a folder (or a name ending in a slash), a symbolic link, a missing parent folder or one that is a file,
    an unwritable folder or file, and anything that exists but is not a regular file. The file's content is not read.

    Args:
        path: the file to be written.
        option: how the user gave the path, for the message (``--csv``, ``--out``).

    Raises:
        ResultsFileError: the path cannot take a file.
    """
    raw = os.fspath(path)
    return _check_location(Path(raw), _label(raw, option), folder_name=raw.endswith(("/", os.sep)))


def _check_location(p: Path, label: str, folder_name: bool = False) -> Path:
    try:
        if os.path.islink(p):
            raise ResultsFileError(
                f"{label} is a symbolic link (to '{os.path.realpath(p)}'); give the file it points to, or a new path."
            )
        if folder_name or p.is_dir():
            raise ResultsFileError(f"{label} is a folder; give the path of a file inside it.")
        parent = p.parent
        if not parent.exists():
            raise ResultsFileError(f"folder '{parent}' for {label} does not exist; create it or choose another path.")
        if not parent.is_dir():
            raise ResultsFileError(f"'{parent}' in {label} is not a folder; choose another path.")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ResultsFileError(
                f"{label} cannot be written: folder '{parent}' is not writable; choose a path you can write to."
            )
        try:
            st = os.stat(p)
        except FileNotFoundError:
            return p
        if not stat.S_ISREG(st.st_mode):
            raise ResultsFileError(f"{label} is not a regular file; give the path of a regular file.")
        if not os.access(p, os.W_OK):
            raise ResultsFileError(f"{label} is not writable; make it writable or choose another path.")
    except OSError as exc:
        raise ResultsFileError(f"{label} cannot be checked ({path_problem(exc, p)}); choose another path.") from None
    return p


def check_folder(path: PathLike, option: str) -> Path:
    """Refuse, with one line naming the fix, a folder that files cannot be written into; return it as a ``Path``.

    Accepted: a writable folder, a symbolic link to one (files go into the folder it points to, each replaced
    atomically there), or a path that does not exist yet whose nearest existing parent is a writable folder (the
    caller creates it when it writes the first file). Refused: a file, a dangling link, an existing parent that is
    not a folder, and an unwritable folder.

    Raises:
        ResultsFileError: the path cannot hold files.
    """
    p = Path(os.fspath(path))
    label = _label(path, option)
    try:
        if os.path.islink(p) and not p.exists():
            raise ResultsFileError(
                f"{label} is a symbolic link to '{os.readlink(p)}', which does not exist; create that folder or "
                "give another path."
            )
        if p.exists():
            if not p.is_dir():
                raise ResultsFileError(f"{label} is a file; give a folder.")
            if not os.access(p, os.W_OK | os.X_OK):
                raise ResultsFileError(f"{label} is not writable; choose a folder you can write to.")
            return p
        parent = p.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise ResultsFileError(f"'{parent}' in {label} is not a folder; choose another path.")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ResultsFileError(
                f"{label} cannot be created: folder '{parent}' is not writable; choose a path you can write to."
            )
    except OSError as exc:
        raise ResultsFileError(f"{label} cannot be checked ({path_problem(exc, p)}); choose another path.") from None
    return p


def check_source(path: PathLike, option: str = opt("csv")) -> Path:
    """Fail unless ``path`` is a regular, readable, non-empty file (a file that is only read, never written).

    A folder, a FIFO or a device (which would block or never end) and an empty file are each one line naming the
    path and what to give instead.

    Raises:
        ResultsFileError: what is wrong with the path.
    """
    p = Path(os.fspath(path))
    label = _label(path, option)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ResultsFileError(f"{label} does not exist; check the path.") from None
    except OSError as exc:
        raise ResultsFileError(f"{label} cannot be read ({_why(exc)}); check the path.") from None
    if stat.S_ISDIR(st.st_mode):
        raise ResultsFileError(f"{label} is a folder; give a CSV file.")
    if not stat.S_ISREG(st.st_mode):
        raise ResultsFileError(f"{label} is not a regular file (a pipe or a device); give a CSV file.")
    if st.st_size == 0:
        raise ResultsFileError(f"{label} is empty; give a CSV file with rows.")
    if not os.access(p, os.R_OK):
        raise ResultsFileError(f"{label} cannot be read (permission denied); check its permissions.")
    return p


def check_target(path: PathLike, columns: Sequence[str] | None = None, option: str = opt("csv")) -> None:
    """Fail before any measuring when rows with ``columns`` cannot be appended to ``path``.

    On top of :func:`check_path`: an existing file must be UTF-8 CSV text (its last line may be torn: appending
    repairs that), and its header must equal ``columns``. A byte order mark or CRLF line ends do not count as a
    difference. When the last line is torn, ``<file>.torn`` must be writable too.

    Args:
        path: the results CSV.
        columns: the header the rows are written with; ``None`` accepts any header.
        option: how the user gave the path, for the message.

    Raises:
        ResultsFileError: one line naming the problem and the fix.
    """
    p = check_path(path, option)
    label = _label(path, option)
    data = read_regular(p, label, "choose another path.", missing_ok=True)
    if data is None:
        return
    plan = _plan(data, columns, p, option)
    if plan.torn:
        _check_torn_target(p, label)


def _torn_path(p: Path) -> Path:
    return p.with_name(p.name + TORN_SUFFIX)


def _check_torn_target(p: Path, label: str) -> Path:
    torn = _torn_path(p)
    return _check_location(torn, f"'{torn}' (where the torn last line of {label} is moved)")


# --------------------------------------------------------------------------------------------------------------------
# Reading: the file split into complete records and a tail


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
    label = _label(path, option)
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
    label = _label(path, option)
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


# --------------------------------------------------------------------------------------------------------------------
# Writing


def _encode(values: Sequence[Any], terminator: str) -> bytes:
    buf = io.StringIO()
    # With "\n" as the writer's line end a bare "\r" in a value goes out unquoted and ends the row early for every
    # reader; with "\r\n" the writer quotes both characters, and the line end is swapped afterwards.
    csv.writer(buf, lineterminator="\r\n").writerow(["" if v is None else v for v in values])
    text = buf.getvalue()[:-2] + terminator
    if "\x00" in text:
        raise ValueError("a CSV value holds a NUL character; results files cannot hold one")
    return text.encode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = _write(fd, view)
        if n <= 0:
            raise OSError(errno.EIO, "the write wrote nothing")
        view = view[n:]


def _append_durably(fd: int, data: bytes, before: int) -> None:
    """Write ``data`` at the end of ``fd`` (``before`` bytes long) and fsync; on any failure cut it back off."""
    try:
        _write_all(fd, data)
        _fsync(fd)
    except BaseException:
        try:
            os.ftruncate(fd, before)
            _fsync(fd)
        except OSError:
            pass  # what stays behind is a torn last line, which the next appender moves aside
        raise


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # folders cannot be opened on Windows; there a rename is as durable as it gets
    try:
        _fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _pread_all(fd: int, size: int) -> bytes:
    chunks, pos = [], 0
    while pos < size:
        chunk = os.pread(fd, size - pos, pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def _print_notice(message: str) -> None:
    # A library reports through the warnings machinery; the CLI turns FileRepairNotice into one stderr line.
    warnings.warn(message, FileRepairNotice, stacklevel=4)


class CsvAppender:
    """Append rows to a results CSV, one complete line per ``write``; use as a context manager.

    Opening checks the target (as :func:`check_target`) and repairs the file's end; a file that does not exist yet
    is only created with the first row, header first. Every row is one ``write`` of its whole line to an
    ``O_APPEND`` descriptor, looped on short writes, then ``fsync``; only then is it counted in ``written``. A
    failed write is truncated back off and raises :class:`~attnbench.errors.CsvWriteError` carrying the rows not
    written. The file is locked (``flock``) for each repair and row, and its end is looked at again whenever another
    process changed its size, so two attnbench processes never glue rows together.

    Args:
        path: the results CSV.
        columns: its header; rows are mappings (missing keys and ``None`` written empty, other keys ignored) or
            sequences of exactly ``len(columns)`` values.
        notice: called with one line for each repair of the file's end; the default issues a ``FileRepairNotice`` warning (the CLI prints it as one line).
        option: how the user gave the path, for messages.
    """

    def __init__(
        self,
        path: PathLike,
        columns: Sequence[str],
        *,
        notice: Callable[[str], None] | None = None,
        option: str = opt("csv"),
    ) -> None:
        self.path = Path(os.fspath(path))
        self.columns = tuple(columns)
        if not self.columns or len(set(self.columns)) != len(self.columns):
            raise ValueError(f"columns must be distinct and not empty, got {self.columns}")
        self.option = option
        self.notice = notice if notice is not None else _print_notice
        self.written = 0
        """Rows written by this appender, each one complete and fsynced."""
        self._raw = os.fspath(path)
        self._label = _label(path, option)
        self._fd: int | None = None
        self._size = -1  # length the file had after this appender's last write; another length means look again
        self._needs_header = True
        self._terminator = "\n"
        self._open = False
        self._lost = False  # the file this appender wrote to was removed or replaced: it takes no more rows

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> Self:
        """Check the target and repair the end of an existing file; return ``self``.

        Raises:
            ResultsFileError: the target cannot take these rows (before anything is changed).
            FileWriteError: repairing the file's end failed (the file is left as it was).
        """
        check_path(self._raw, self.option)
        if os.path.lexists(self.path):
            self._attach(create=False)
        self._open = True
        return self

    def close(self) -> None:
        """Close the file. Every row already counted in ``written`` is on disk; nothing else needs doing."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._open = False

    def append(self, row: Row) -> None:
        """Append one row.

        Raises:
            CsvWriteError: the row was not written (and the file holds only complete rows).
        """
        self.extend([row])

    def extend(self, rows: Iterable[Row]) -> int:
        """Append rows one at a time and return how many were written.

        ``rows`` should hold rows already measured: when a write fails, the rest of it is drained into the error.

        Raises:
            CsvWriteError: carrying the row that failed and every later one.
            ValueError: a row with the wrong number of values, or a value holding a NUL character (before any write).
        """
        if not self._open:
            raise RuntimeError("open the CsvAppender (or use it in a 'with' block) before appending")
        n = 0
        it = iter(rows)
        for row in it:
            values = self._values(row)
            _encode(values, "\n")  # a value that cannot be written is the caller's bug: refuse it before any I/O
            try:
                self._write_row(values)
            except (OSError, AttnbenchError) as exc:
                unwritten = [dict(zip(self.columns, values))] + [dict(zip(self.columns, self._values(r))) for r in it]
                if isinstance(exc, OSError):
                    why, then = _why(exc), "the file keeps only complete rows; free space or fix the cause, then rerun"
                else:  # the file changed under this command: another program replaced, removed or rewrote it
                    why, then = self._changed(exc), "fix the cause, then rerun"
                raise CsvWriteError(
                    f"could not append to {self._label} ({why}); {len(unwritten)} row(s) not written; {then}.",
                    str(self.path),
                    self.columns,
                    unwritten,
                ) from exc
            n += 1
            self.written += 1
        return n

    def _values(self, row: Row) -> list[Any]:
        if isinstance(row, Mapping):
            return [row.get(c) for c in self.columns]
        values = list(row)
        if len(values) != len(self.columns):
            raise ValueError(f"a row of {len(values)} values for {len(self.columns)} columns: {values!r}")
        return values

    @contextmanager
    def _locked(self) -> Iterator[None]:
        assert self._fd is not None
        try:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            locked = fcntl is not None
        except OSError:  # some network filesystems have no locks; a lone writer needs none
            locked = False
        try:
            yield
        finally:
            if locked:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _attach(self, create: bool) -> None:
        flags = os.O_RDWR | os.O_APPEND | _O_CLOEXEC | _O_NOFOLLOW
        created = False
        try:
            if create:
                try:
                    fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o666)
                    created = True
                except FileExistsError:
                    fd = os.open(self.path, flags)
            else:
                fd = os.open(self.path, flags)
        except OSError as exc:
            check_path(self._raw, self.option)  # names the usual causes (a link, a folder) in the usual words
            raise ResultsFileError(f"{self._label} cannot be opened ({_why(exc)}); choose another path.") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ResultsFileError(f"{self._label} is not a regular file; give the path of a regular file.")
            if created:
                _fsync_dir(self.path.parent)  # the file's name must be durable before any row counts as written
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._size = fd, -1
        try:
            with self._locked():
                self._sync_tail()
        except OSError as exc:
            self.close()
            raise ResultsFileError(f"{self._label} cannot be read ({_why(exc)}); check the file.") from exc
        except BaseException:
            self.close()
            raise

    def _sync_tail(self) -> None:
        """Under the lock: unless the file is as this appender left it, read it and repair its end."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        data = _pread_all(self._fd, size)
        plan = _plan(data, self.columns, self.path, self.option)
        if plan.torn:
            self._move_aside(plan)
        elif plan.newline:
            try:
                _append_durably(self._fd, plan.newline, len(data))
            except OSError as exc:
                raise FileWriteError(
                    f"could not add the missing final newline to {self._label} ({_why(exc)}); the file is unchanged; "
                    "free space or fix the cause, then rerun."
                ) from exc
            self.notice(f"{self._label}: its last line (line {plan.tail_line}) lacked a final newline; added one.")
        self._terminator = plan.terminator
        self._needs_header = plan.header is None
        self._size = os.fstat(self._fd).st_size

    def _move_aside(self, plan: _Plan) -> None:
        assert self._fd is not None
        torn_path = _check_torn_target(self.path, self._label)
        # Kept apart from whatever an earlier repair put there; the piece itself is kept byte for byte.
        piece = plan.torn if plan.torn.endswith(b"\n") else plan.torn + b"\n"
        try:
            fd = os.open(torn_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_CLOEXEC | _O_NOFOLLOW, 0o666)
            try:
                _append_durably(fd, piece, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            _fsync_dir(torn_path.parent)  # the copy must be durable before the original is cut off
            os.ftruncate(self._fd, plan.keep)
            _fsync(self._fd)
        except OSError as exc:
            raise FileWriteError(
                f"could not move the torn last line of {self._label} to '{torn_path}' ({_why(exc)}); the file is "
                "unchanged; free space or fix the cause, then rerun."
            ) from exc
        last = plan.tail_line + plan.torn.count(b"\n") - plan.torn.endswith(b"\n")
        lines = f"line {last}" if last == plan.tail_line else f"lines {plan.tail_line}-{last}"
        self.notice(
            f"{self._label}: moved its torn last row ({lines}, {len(plan.torn)} bytes) to '{torn_path}'; "
            "the file now ends at its last complete row."
        )

    def _still_there(self) -> bool:
        """Whether the path still names the file this appender has open (rows written to a removed one are lost)."""
        assert self._fd is not None
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        own = os.fstat(self._fd)
        return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)

    def _changed(self, exc: BaseException) -> str:
        """``it is a folder``: what a refusal of the file says about it, without its label and its fix."""
        text = str(exc).removeprefix(self._label).strip()
        return "it " + text.rsplit("; ", 1)[0].rstrip(".") if text else type(exc).__name__

    def _write_row(self, values: list[Any]) -> None:
        if self._fd is not None and not self._still_there():
            # Rows written on into a new file at the path would split the results between two files (or land in
            # whatever another program put there): the rows go to <file>.unsaved instead, through CsvWriteError.
            os.close(self._fd)
            self._fd = None
            self._lost = True
        if self._lost:
            raise ResultsFileError(f"{self._label} was removed or replaced while this command ran; rerun.")
        if self._fd is None:
            check_path(self._raw, self.option)
            self._attach(create=True)
        with self._locked():
            self._sync_tail()
            line = _encode(values, self._terminator)
            if self._needs_header:
                line = _encode(self.columns, self._terminator) + line
            before = self._size
            _append_durably(self._fd, line, before)  # type: ignore[arg-type]
            self._size = before + len(line)
            self._needs_header = False


def open_appender(
    path: PathLike, columns: Sequence[str], *, notice: Callable[[str], None] | None = None, option: str = opt("csv")
) -> CsvAppender:
    """A :class:`CsvAppender`, already opened (close it, or use it in a ``with`` block)."""
    return CsvAppender(path, columns, notice=notice, option=option).open()


def append_rows(
    path: PathLike,
    columns: Sequence[str],
    rows: Iterable[Row],
    *,
    notice: Callable[[str], None] | None = None,
    option: str = opt("csv"),
) -> int:
    """Append ``rows`` to ``path`` (header first when the file is new) and return how many were written.

    Raises:
        ResultsFileError: the target cannot take these rows (nothing was written).
        CsvWriteError: a write failed; it carries the rows not written.
    """
    with CsvAppender(path, columns, notice=notice, option=option) as out:
        return out.extend(rows)


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


@dataclass(frozen=True)
class Unsaved:
    """Where the rows of a :class:`~attnbench.errors.CsvWriteError` went."""

    path: Path | None
    """The ``.unsaved`` file that took rows; ``None`` when it took none."""
    saved: int
    """Rows appended to it."""
    left: int
    """Rows it could not take."""
    text: str
    """Those rows as CSV text with its header, for the caller to print to stdout; ``""`` when there are none."""

    @property
    def note(self) -> str:
        """One line saying where the rows are."""
        if not self.left:
            return f"The {self.saved} row(s) not written were saved to '{self.path}'."
        printed = f"{self.left} row(s) not written are printed on stdout as CSV; save them before anything else."
        return f"{self.saved} row(s) were saved to '{self.path}'; {printed}" if self.saved else f"The {printed}"


def save_unsaved(error: CsvWriteError, *, notice: Callable[[str], None] | None = None) -> Unsaved:
    """Save the rows a failed append could not write, so that no measurement is lost.

    They are appended to ``<file>.unsaved`` (a CSV with the same header, itself appended to and repaired like any
    results file); whatever that cannot take either comes back as CSV text, for the caller to print on stdout.

    Args:
        error: the failed append.
        notice: as for :class:`CsvAppender`, for repairs of the ``.unsaved`` file.
    """
    target = Path(error.path + UNSAVED_SUFFIX)
    rest: list[dict[str, object]] = list(error.rows)
    saved = 0
    try:
        with CsvAppender(target, error.columns, notice=notice, option="") as out:
            try:
                saved = out.extend(rest)
                rest = []
            except CsvWriteError as again:
                saved, rest = out.written, again.rows
    except AttnbenchError:
        pass  # the .unsaved file cannot be opened at all: every row goes to the text
    return Unsaved(target if saved else None, saved, len(rest), csv_text(error.columns, rest) if rest else "")


# --------------------------------------------------------------------------------------------------------------------
# Whole files, replaced atomically


def _create_temp(p: Path) -> Path:
    # The suffix is kept so that writers choosing a format by extension (matplotlib's savefig) see the real one.
    # O_CREAT with 0o666 gives the temporary file exactly the mode a new file gets (umask, default ACLs), which
    # mkstemp's fixed 0600 would not.
    for _ in range(100):
        tmp = p.with_name(f".{p.stem}.tmp-{secrets.token_hex(4)}{p.suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_NOFOLLOW, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(p.parent))


def _commit(tmp: Path, p: Path) -> None:
    fd = os.open(tmp, os.O_RDWR | _O_CLOEXEC)
    try:
        _fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, p)
    _fsync_dir(p.parent)


@contextmanager
def atomic_path(path: PathLike, *, option: str = opt("out")) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that replaces ``path`` atomically when the block ends.

    For writers that want a file name (``savefig``, ``torch.save``). The temporary file exists (empty) and has the
    target's suffix. When the block ends it is fsynced and renamed over ``path``, and the folder fsynced; the result
    gets the mode a new file gets under the user's umask, never the old file's. On any exception the temporary file
    is removed and ``path`` is left as it was.

    Args:
        path: the file to replace or create.
        option: how the user gave the path, for messages.

    Raises:
        ResultsFileError: the path cannot take a file (checked first, as :func:`check_path`).
        FileWriteError: writing failed with an ``OSError`` (disk full, I/O error).
    """
    p = check_path(path, option)
    label = _label(path, option)
    existed = p.exists()
    try:
        tmp = _create_temp(p)
    except OSError as exc:
        raise FileWriteError(f"{label} could not be written ({_why(exc)}); choose another path.") from exc
    try:
        yield tmp
        _commit(tmp, p)
    except BaseException as exc:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            before = "the old file is unchanged" if existed else "nothing was written"
            raise FileWriteError(
                f"{label} could not be written ({_why(exc)}); {before}; free space or choose another path."
            ) from exc
        raise


def atomic_write(path: PathLike, data: bytes | str, *, option: str = opt("out")) -> None:
    """Replace (or create) ``path`` with ``data`` atomically: readers see the old file or the new one, never a part.

    A ``str`` is written as UTF-8, as is. See :func:`atomic_path` for the mode, the checks and the errors.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with atomic_path(path, option=option) as tmp:
        fd = os.open(tmp, os.O_WRONLY | _O_CLOEXEC)
        try:
            _write_all(fd, payload)
        finally:
            os.close(fd)


def is_older_header(header: Sequence[str], columns: Sequence[str], added: Sequence[str]) -> bool:
    """Whether ``header`` is ``columns`` less some of ``added``, in the same order (an older attnbench's file)."""
    want = list(columns)
    return list(header) != want and list(header) == [c for c in want if c in header or c not in added]


def upgrade_header(
    path: PathLike,
    columns: Sequence[str],
    added: Sequence[str],
    fill: Callable[[dict[str, str]], dict[str, str]],
    *,
    filled: str,
    option: str = opt("csv"),
) -> bool:
    """Rewrite a CSV written before some of ``added`` existed with today's header ``columns``, so rows can be
    appended to it.

    A file qualifies when its header is ``columns`` less some of ``added`` (same order). Its rows are kept as they
    were, each passed through ``fill`` (which supplies the new columns); the file is replaced atomically and a
    ``FileRepairNotice`` says so, naming what ``filled`` describes. Any other file is left alone (``check_target``
    judges it). Returns whether the file was rewritten.

    Raises:
        ResultsFileError: a line of the file has another field count than its header (a torn last line included):
            rewriting would drop it, so the file is left as it is and the line is named.
    """
    p = Path(os.fspath(path))
    try:
        if not stat.S_ISREG(os.stat(p).st_mode):
            return False
    except OSError:  # missing, or a path the system refuses: check_target names it
        return False
    try:
        with p.open(encoding="utf-8-sig", newline="") as f:
            first = f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return False
    header = first.split(",")
    if not is_older_header(header, columns, added):
        return False
    table = read_table(p, header, option)
    if table.bad:  # rewriting would drop the line: the user decides what it was
        line, fields = table.bad[0]
        raise ResultsFileError(
            f"{option} {path}:{line}: this line has {fields} fields, the header {len(header)}; fix or remove it, then "
            "rerun (the file gets today's columns only when every line is whole)."
        )
    rows = [fill(r) for _, r in table.rows]
    atomic_write(p, csv_text(columns, rows), option=option)
    warnings.warn(
        FileRepairNotice(
            f"{option} '{path}' had the columns of an older attnbench; rewritten with today's columns "
            f"({len(rows)} rows kept; new ones filled: {filled})."
        ),
        stacklevel=2,
    )
    return True
