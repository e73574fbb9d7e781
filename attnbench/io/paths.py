"""Checks made on a path before any measuring: a folder, a link, a missing or unwritable folder, a file that is not
regular, are refused with one line naming the option, before anything runs (see ``csvfile`` for the decisions)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ResultsFileError, opt
from .csvtext import _plan
from .reading import PathLike, path_label, path_problem, read_regular

if TYPE_CHECKING:  # only for annotations: at run time Python 3.10 has no typing.Self
    pass


TORN_SUFFIX = ".torn"


UNSAVED_SUFFIX = ".unsaved"


_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


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
    return _check_location(Path(raw), path_label(raw, option), folder_name=raw.endswith(("/", os.sep)))


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
    label = path_label(path, option)
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
    label = path_label(path, option)
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
    label = path_label(path, option)
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
