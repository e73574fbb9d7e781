"""Writing that loses nothing: rows appended one complete line at a time (``CsvAppender``), whole files replaced
atomically, and the rows a failed write could not take saved beside the file (see ``csvfile`` for the decisions).

Writes go through the module-level ``_write`` and ``_fsync`` (``os.write``/``os.fsync``), so tests can make them
fail after any number of bytes."""

from __future__ import annotations

import errno
import os
import secrets
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AttnbenchError, CsvWriteError, FileRepairNotice, FileWriteError, ResultsFileError, opt
from .csvtext import Row, _encode, _Plan, _plan, csv_text, is_older_header, read_table
from .paths import _O_CLOEXEC, _O_NOFOLLOW, UNSAVED_SUFFIX, _check_torn_target, _why, check_path
from .reading import PathLike, path_label

if TYPE_CHECKING:  # only for annotations: at run time Python 3.10 has no typing.Self
    from typing import Self

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so two processes appending at once are not kept apart there.
    fcntl = None  # type: ignore[assignment]


_write = os.write


_fsync = os.fsync


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
        self._label = path_label(path, option)
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
    label = path_label(path, option)
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
