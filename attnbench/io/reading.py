"""Reading the files a command is given, the same way for every reader: what may be opened, and what a value may be.

Every file attnbench reads as input (result CSVs, baselines, ``--from`` files, plot inputs, checkpoints) is opened
through :func:`read_regular`, and the values of its CSV columns are checked by one :class:`Rule` per column
(:func:`check_values`). Decisions, the same for every reader:

* **Only a regular file is opened for its content.** The path is opened without blocking and checked with
  ``fstat`` before a byte is read, so a named pipe (FIFO) never hangs a command and ``/dev/zero`` is never read
  forever; a folder, a device, a FIFO or a socket is one line saying what the path is. A missing file is "does not
  exist" only when it does not exist.
* **A path the system refuses** (a name over 255 bytes, a path over the system's length limit, a file on the way
  that is not a folder, a loop of symbolic links, no permission) is one line naming the reason.
* **A value is checked against its column's rule**: its kind (a whole number, a finite number, true/false, text)
  and its range (counts ≥ 0, ratios > 0, fractions from 0 to 1). A bad value is one line,
  ``FILE:LINE: column 'x' holds 'v', not <what the rule wants>; <the fix>``.

The text rules (a byte order mark, CRLF line ends, NUL bytes, duplicate header names, torn last lines) live in
``csvfile.read_table``, which reads through :func:`read_regular`.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import AttnbenchError, ResultsFileError

PathLike = str | os.PathLike[str]

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

NAME_MAX = 255
"""The longest file name (bytes) the common file systems take."""


def file_kind(mode: int) -> str:
    """What a ``stat`` mode is, in words: ``a folder``, ``a named pipe (FIFO)``, ``a character device``, ..."""
    for test, words in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def path_problem(exc: OSError, path: PathLike) -> str:
    """Why the system refused ``path``, in words that name the fix (for a name too long: how long it is)."""
    raw = os.fsencode(path)
    if exc.errno == errno.ENAMETOOLONG:
        longest = max((len(part) for part in raw.split(b"/")), default=0)
        if longest > NAME_MAX:
            return f"a name in the path is {longest} bytes long, more than the {NAME_MAX} a file name may have"
        return f"the path is {len(raw)} bytes long, more than this system allows"
    if exc.errno == errno.ENOTDIR:
        return "a part of the path that should be a folder is a file"
    if exc.errno == errno.ELOOP:
        return "the path runs through a loop of symbolic links"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")


def read_regular(
    path: PathLike,
    label: str,
    fix: str,
    *,
    error: type[AttnbenchError] = ResultsFileError,
    missing_ok: bool = False,
    missing_fix: str | None = None,
) -> bytes | None:
    """The bytes of ``path``, after checking that it is a regular file; ``None`` for a missing one if ``missing_ok``.

    The file is opened with ``O_NONBLOCK`` (a FIFO opens at once instead of waiting for a writer) and checked with
    ``fstat`` on the open descriptor, so the check and the read see the same file. Symbolic links are followed.

    Args:
        path: the file.
        label: how the user gave it, for the message (``"baseline 'b.csv'"``, ``"--from 'x.csv'"``).
        fix: what to do instead, ending the message (``"give the CSV written by 'attnbench baseline write'"``).
        error: the error class raised (its exit code is the command's: 2 for every input file).
        missing_ok: return ``None`` for a path that does not exist (a results file not written yet).
        missing_fix: ``fix`` for a path that does not exist, when it differs (``"write one with ..."``).

    Raises:
        error: the path does not exist (unless ``missing_ok``), is not a regular file, or cannot be opened or read;
            one line with the reason and ``fix``.
    """
    raw = os.fspath(path)
    if raw == "":
        raise error(f"{label} is an empty path; {fix}")
    try:
        fd = os.open(raw, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise error(f"{label} does not exist; {missing_fix or fix}") from None
    except IsADirectoryError:
        raise error(f"{label} is a folder; {fix}") from None
    except OSError as exc:
        raise error(f"{label} cannot be opened ({path_problem(exc, raw)}); {fix}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = file_kind(mode)
            what = "a folder" if kind == "a folder" else f"not a regular file (it is {kind})"
            raise error(f"{label} is {what}; {fix}")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{label} cannot be read ({path_problem(exc, raw)}); {fix}") from None
    finally:
        os.close(fd)


def check_regular(path: PathLike, label: str, fix: str, *, error: type[AttnbenchError] = ResultsFileError) -> None:
    """Refuse, as :func:`read_regular` would, a path that is missing or not a regular file; nothing is read.

    For readers that hand the path to another library afterwards (``torch.load``): a FIFO or a device never reaches
    it, and a missing file is named as such.
    """
    raw = os.fspath(path)
    if raw == "":
        raise error(f"{label} is an empty path; {fix}")
    try:
        mode = os.stat(raw).st_mode
    except FileNotFoundError:
        raise error(f"{label} does not exist; {fix}") from None
    except OSError as exc:
        raise error(f"{label} cannot be opened ({path_problem(exc, raw)}); {fix}") from None
    if not stat.S_ISREG(mode):
        kind = file_kind(mode)
        what = "a folder" if kind == "a folder" else f"not a regular file (it is {kind})"
        raise error(f"{label} is {what}; {fix}")


# --------------------------------------------------------------------------------------------------------------------
# Values

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


class BadValue(ValueError):
    """A cell that breaks its rule; ``str()`` is ``'<cell>' is not <what the rule wants>``."""

    def __init__(self, text: str, want: str) -> None:
        self.text, self.want = _shown(text), want
        super().__init__(f"'{self.text}' is not {want}")


@dataclass(frozen=True)
class Rule:
    """What one column's cells may hold. An empty cell is ``None`` (for every kind but ``str``), and always allowed.

    Attributes:
        kind: ``int`` (a whole, finite number; ``"3.0"`` is 3), ``float`` (a finite number), ``bool`` (true/false,
            1/0, yes/no, any case) or ``str`` (anything).
        low: the smallest value allowed (``None``: no bound).
        high: the largest value allowed (``None``: no bound).
        above: ``low`` itself is not allowed (``> low`` instead of ``≥ low``).
    """

    kind: type = str
    low: float | None = None
    high: float | None = None
    above: bool = False

    def want(self) -> str:
        """What the rule accepts, in words: ``a whole number ≥ 0``, ``a finite number from 0 to 1``."""
        if self.kind is bool:
            return "true or false"
        base = "a whole number" if self.kind is int else "a finite number"
        if self.low == 0 and self.above and self.high is None:
            return "a positive whole number" if self.kind is int else "a positive number"
        if self.low is not None and self.high is not None:
            return f"{base} from {self.low:g} to {self.high:g}" + (f" (not {self.low:g})" if self.above else "")
        if self.low is not None:
            return f"{base} {'>' if self.above else '≥'} {self.low:g}"
        if self.high is not None:
            return f"{base} ≤ {self.high:g}"
        return base

    def parse(self, text: str, *, finite: bool = True) -> Any:
        """The cell as a typed value.

        Args:
            text: the cell.
            finite: refuse ``inf`` and ``nan``; with ``False`` they pass as floats, unchecked (a reader that skips
                them itself).

        Raises:
            BadValue: ``'<text>' is not <want>`` (a ``ValueError``).
        """
        if self.kind is str:
            return text
        if text == "":
            return None
        if self.kind is bool:
            word = text.strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise BadValue(text, self.want())
        try:
            number = float(text)
        except ValueError:
            number = math.nan
            finite = True  # text that is not a number is never let through
        if not math.isfinite(number):
            if finite:
                raise BadValue(text, self.want())
            return number
        if (self.kind is int and not number.is_integer()) or not self._in_range(number):
            raise BadValue(text, self.want())
        return int(number) if self.kind is int else number

    def _in_range(self, v: float) -> bool:
        if self.low is not None and (v < self.low or (self.above and v == self.low)):
            return False
        return self.high is None or v <= self.high


def _shown(text: str, limit: int = 40) -> str:
    """A cell as a message shows it: one line, at most ``limit`` characters."""
    flat = " ".join(text.split()) if text.strip() else repr(text)[1:-1]
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def bad_value(path: PathLike, line: int, column: str, exc: BadValue, fix: str) -> str:
    """The one line for a cell that breaks its rule: ``FILE:LINE: column 'x' holds '<v>', not <want>; <fix>``."""
    return f"{os.fspath(path)}:{line}: column '{column}' holds '{exc.text}', not {exc.want}; {fix}"


def check_values(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    rules: Mapping[str, Rule],
    path: PathLike,
    *,
    fix: str = "fix or remove that line.",
    error: type[AttnbenchError] = ResultsFileError,
    finite: bool = True,
    columns: Sequence[str] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Every row with each ruled column typed; the first cell that breaks its rule ends it as one line.

    Args:
        rows: ``(line, {column: text})``, as ``csvfile.read_table`` gives them.
        rules: the rule of each column that has one; columns without a rule stay text.
        path: the file, for the message.
        fix: how the message ends.
        error: the error class raised.
        finite: whether ``inf``/``nan`` are refused (see :meth:`Rule.parse`).
        columns: check only these columns (default: every column with a rule).

    Raises:
        error: ``FILE:LINE: column 'x': ...`` for the first bad cell.
    """
    out = []
    for line, row in rows:
        typed: dict[str, Any] = dict(row)
        for column, text in row.items():
            rule = rules.get(column)
            if rule is None or (columns is not None and column not in columns):
                continue
            try:
                typed[column] = rule.parse(text, finite=finite)
            except BadValue as exc:
                raise error(bad_value(path, line, column, exc, fix)) from None
        out.append((line, typed))
    return out


def path_label(path: PathLike, option: str) -> str:
    """How a message names a path the user gave: ``option 'path'`` (just ``'path'`` without an option)."""
    return f"{option} '{os.fspath(path)}'" if option else f"'{os.fspath(path)}'"
