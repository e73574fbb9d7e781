"""The error hierarchy. Each error carries a one-line message that names the fix, and its exit code.

``cli.main`` maps every ``AttnbenchError`` to ``Error: <message>`` on stderr and exits with ``exit_code``;
any other exception keeps its traceback (it is a bug, not a user error).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_FIELD = re.compile(r"`(\w+)`")


def opt(name: str) -> str:
    """A field named inside a message: ``f"{opt('width')} {w} is outside 0.35-1.4"`` reads "`width` 1.5 is ...".

    The library speaks fields, not flags. The CLI shows a marked field as the option of the command that ran
    (``--width`` on ``profile``, ``--widths`` on ``sweep``); the Python API keeps the message as it is.
    """
    return f"`{name}`"


def name_fields(text: str, name: Callable[[str], str | None]) -> str:
    """``text`` with every marked field replaced by ``name(field)``, or by the bare field where that is ``None``."""
    return _FIELD.sub(lambda m: name(m[1]) or m[1], text)


class AttnbenchError(Exception):
    """Base class: a failure the user can act on. Exit code 1."""

    exit_code = 1


class UsageError(AttnbenchError):
    """A bad value on the command line or in the API call (name, number, path). Exit code 2."""

    exit_code = 2


class UnknownNameError(UsageError):
    """An attention module or backbone that is not registered."""


class PluginError(UsageError):
    """A ``--plugins`` file that cannot be imported or registers a bad entry."""


class ResultsFileError(UsageError):
    """A results file that cannot be written, or whose columns do not match."""


class DeviceUnavailableError(AttnbenchError):
    """The requested device is not present; attnbench never falls back to another one."""


class InsertionError(AttnbenchError):
    """An attention module cannot be built at the chosen slot of a backbone."""


class RowsFailedError(AttnbenchError):
    """Some configurations failed; their rows are recorded with status 'failed' and the others completed."""


class BaselineFileError(UsageError):
    """A baseline file that is missing, unreadable, or names unknown columns, modules or backbones."""


class DataError(UsageError):
    """Data that is missing, empty or unreadable. The message names the path and the expected layout.

    Exit code 2: the ``--data`` path the user gave is bad input, to be fixed before anything can run. ``ablate``
    reads it before any run trains. (Image folders too large to decode up front are decoded per batch, so one
    undecodable image among them is only found while training.)"""


class CheckpointError(UsageError):
    """A checkpoint file in ``--checkpoint-dir`` that cannot be read or belongs to another configuration.

    Exit code 2: the file is bad input (the fix is to delete it or choose another folder), not a failure of the run.
    ``ablate`` reads every checkpoint it would continue from before any run trains."""


class WeightsError(UsageError):
    """A checkpoint whose keys or shapes do not fit the model.

    Exit code 2: the ``--weights`` file (or the model options chosen for it) is bad input, like a file that cannot be
    read (``CheckpointFileError``). ``profile`` loads it into every model it will go into before measuring."""


class CheckpointFileError(UsageError):
    """A checkpoint path that is missing, unreadable, corrupt or truncated, or holds no state dict (exit code 2)."""


class UnsafeCheckpointError(CheckpointFileError):
    """A checkpoint that needs arbitrary pickled objects, which ``torch.load(weights_only=True)`` refuses."""


def rows_failed(failures: list[tuple[str, str]], total: int) -> RowsFailedError:
    """One line naming how many rows failed, and the first failure in full."""
    label, error = failures[0]
    more = f" (and {len(failures) - 1} more; see the 'error' column)" if len(failures) > 1 else ""
    return RowsFailedError(f"{len(failures)} of {total} rows failed: {label}: {error}{more}")


class Notice(UserWarning):
    """Something the user should know that is not an error: the CLI prints it as one ``Warning:`` line."""


class FileRepairNotice(Notice):
    """A results file was repaired before appending (final newline added, torn last row moved aside); one line."""


class SkippedRowsNotice(Notice):
    """Rows left out of a result because a value they need is not a finite number (``inf``); one line with the count."""


class FileWriteError(AttnbenchError):
    """A file could not be written (disk full, I/O error); the file holds only what it held before, or complete rows."""


class CsvWriteError(FileWriteError):
    """Rows that could not be appended to a results CSV.

    The file keeps only complete rows; the rows not written travel with the error, so the caller can still save them
    (``attnbench.io.csvfile.save_unsaved``) and no measurement is lost.

    Attributes:
        path: the CSV the rows were meant for.
        columns: its header.
        rows: the rows not written, each a ``{column: value}`` dict, in order.
    """

    def __init__(
        self, message: str, path: str = "", columns: tuple[str, ...] = (), rows: list[dict[str, object]] | None = None
    ) -> None:
        # Only the message goes to Exception, so a pickled error (a worker process) is rebuilt with its rows.
        super().__init__(message)
        self.path = path
        self.columns = columns
        self.rows = rows if rows is not None else []


class ExportWriteError(FileWriteError):
    """``--export-*`` files that could not be written; each one's text was saved to ``<file>.unsaved`` instead.

    Attributes:
        text: the exports that could not be saved there either, for the caller to print on stdout (``""``: none).
    """

    def __init__(self, message: str, text: str = "") -> None:
        super().__init__(message)
        self.text = text


class RuntimeUnavailableError(UsageError):
    """A ``--runtime`` whose packages are not installed (the message names the extra), or that cannot run here."""


class BackboneUnavailableError(UsageError):
    """A ``timm:`` or ``torchvision:`` backbone whose package does not import here; the message gives the reason."""


class ExportError(AttnbenchError):
    """A model that a runtime's exporter or quantizer cannot take; that model's row fails, the others go on."""


class OutputMismatchError(AttnbenchError):
    """A built model whose output disagrees with eager's beyond tolerance (or in shape): its row fails, untimed."""
