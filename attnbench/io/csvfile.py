"""Every file attnbench writes, and reading its CSVs back: the decisions, and the names the rest of the package uses.

Three files do the work: ``paths`` (checks before any measuring), ``csvtext`` (the one scanner, reader and encoder
of CSV text) and ``durable`` (appending rows, replacing whole files).

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

Writes go through ``durable._write`` and ``durable._fsync`` (``os.write``/``os.fsync``), so tests can make them fail
after any number of bytes.
"""

from .csvtext import BOM, Rows, Table, csv_text, is_older_header, parse_cell, parse_text, read_rows, read_table
from .durable import (
    CsvAppender,
    Unsaved,
    append_rows,
    atomic_path,
    atomic_write,
    open_appender,
    save_unsaved,
    upgrade_header,
)
from .paths import TORN_SUFFIX, UNSAVED_SUFFIX, check_folder, check_path, check_source, check_target

__all__ = [
    "BOM",
    "TORN_SUFFIX",
    "UNSAVED_SUFFIX",
    "CsvAppender",
    "Rows",
    "Table",
    "Unsaved",
    "append_rows",
    "atomic_path",
    "atomic_write",
    "check_folder",
    "check_path",
    "check_source",
    "check_target",
    "csv_text",
    "is_older_header",
    "open_appender",
    "parse_cell",
    "parse_text",
    "read_rows",
    "read_table",
    "save_unsaved",
    "upgrade_header",
]
