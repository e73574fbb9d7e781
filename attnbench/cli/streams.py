"""stdout and stderr that cannot take what a command writes: a full device, a closed pipe, an encoding without the
characters of the tables.

``main`` runs every command inside :func:`guarded`:

* **Output that cannot be written** (``ENOSPC`` on ``> /dev/full``, ``EPIPE`` after ``| head -1``, an I/O error)
  does not end the command: the stream is marked lost, everything later written to it is dropped, and the command
  goes on, so the files it writes (rows, baselines, exports) are still written. When it ends, one ``Error:`` line
  on stderr (when stderr can take it) says which stream lost output, and the exit code is 1 unless the command
  failed with another code already. The lost stream's descriptor then points at ``/dev/null``, so the
  interpreter's own flush at exit cannot fail a second time.
* **An encoding without the characters attnbench prints** (``LANG=C``, ``PYTHONIOENCODING=ascii``) gets ASCII
  stand-ins for them: box drawing becomes ``+-|``, ``Δ`` becomes ``d``, ``±`` ``+/-``, ``×`` ``x``, ``→`` ``->``,
  and any other character its closest ASCII letter or ``?``. rich draws ASCII tables by itself for such a stream.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import sys
import unicodedata
from collections.abc import Iterator
from typing import Any

ASCII_WORDS = dict(
    pair.split("=", 1)
    for pair in "Δ=d ±=+/- ×=x –=- —=- −=- →=-> ←=<- ≥=>= ≤=<= ≈=~ ·=- …=... µ=u ’=' ‘=' •=* ✓=v ✗=x "
    '█=# ▌=# ━=- ╸=- ╺=- “=" ”="'.split()
)
"""ASCII stand-ins for the characters attnbench's own text uses (quotes and dashes as their plain forms)."""
_LINES = {"-": "─═╌┄┈╴╶", "|": "│║┃╎┆┊╷╵", "+": "┌┐└┘├┤┬┴┼╭╮╰╯╔╗╚╝╠╣╦╩╬┏┓┗┛┣┫┳┻╋┡┩╞╡╪╤╧╟╢╫"}

ERROR_HANDLER = "attnbench-ascii"


def ascii_for(char: str) -> str:
    """The ASCII stand-in for one character (``?`` when it has none)."""
    if char in ASCII_WORDS:
        return ASCII_WORDS[char]
    for stand_in, chars in _LINES.items():
        if char in chars:
            return stand_in
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
    return plain or "?"


def _replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = "".join(ascii_for(c) for c in exc.object[exc.start : exc.end])
    after = exc.object[exc.end : exc.end + 1]
    if text.endswith("d") and exc.object[exc.end - 1] == "Δ" and not after.isalpha():
        text = text[:-1] + "delta"  # a Δ on its own reads as the word; before a name (Δlat) as its prefix d
    return text, exc.end


codecs.register_error(ERROR_HANDLER, _replace)

LOST = (errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF, errno.ECONNRESET)
"""The errors that mean a stream cannot take output (as opposed to a bug)."""


class GuardedStream:
    """A text stream that drops what it cannot write instead of raising, and remembers why.

    Every other attribute (``encoding``, ``isatty``, ``fileno``, ``buffer``) is the wrapped stream's, so rich and
    click see the real stream.
    """

    def __init__(self, stream: Any, name: str) -> None:
        self._stream = stream
        self.name = name
        self.lost: OSError | None = None

    def _fail(self, exc: OSError) -> None:
        if self.lost is None:
            self.lost = exc
        silence(self._stream)

    def write(self, text: str) -> int:
        if self.lost is None:
            try:
                return int(self._stream.write(text))
            except OSError as exc:
                if exc.errno not in LOST:
                    raise
                self._fail(exc)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.lost is None:
            try:
                self._stream.flush()
            except OSError as exc:
                if exc.errno not in LOST:
                    raise
                self._fail(exc)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


def silence(stream: Any) -> None:
    """Point a lost stream's descriptor at ``/dev/null`` and drop what its buffer still holds, so later writes and
    the interpreter's flush at exit succeed without output."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file (a test's StringIO): nothing flushes it at exit
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
        stream.flush()  # what the buffer held goes to /dev/null now
    except (OSError, ValueError):
        pass


def _ascii_fallback(stream: Any) -> None:
    """Give a stream whose encoding lacks attnbench's characters the ASCII stand-ins instead of an error."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "Δ±×–→─".encode(encoding)
        return
    except (UnicodeEncodeError, LookupError):
        pass
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(OSError, ValueError):
            reconfigure(errors=ERROR_HANDLER)


@contextlib.contextmanager
def guarded() -> Iterator[list[GuardedStream]]:
    """Run a command with ``sys.stdout`` and ``sys.stderr`` guarded (see the module docstring); yields both guards,
    which say afterwards whether one lost output (``lost``). The original streams are put back when it ends."""
    saved = sys.stdout, sys.stderr
    for stream in saved:
        _ascii_fallback(stream)
    guards = [GuardedStream(saved[0], "stdout"), GuardedStream(saved[1], "stderr")]
    sys.stdout, sys.stderr = guards  # type: ignore[assignment]
    try:
        yield guards
    finally:
        for guard in guards:
            guard.flush()
        sys.stdout, sys.stderr = saved


def is_lost_output(exc: BaseException) -> bool:
    """Whether an exception that reached ``main`` is a stream refusing output (one another library raised while
    writing to the real stream, bypassing the guard: click writes help through its own wrapper)."""
    return isinstance(exc, OSError) and exc.errno in LOST and not exc.filename


def lost_line(guards: list[GuardedStream], exc: OSError | None = None) -> str | None:
    """The one line for output that was lost, or ``None`` when every stream took everything."""
    lost = [(g.name, g.lost) for g in guards if g.lost is not None]
    if exc is not None and not lost:
        lost = [("stdout", exc)]
    if not lost:
        return None
    name, err = lost[0]
    reason = {errno.EPIPE: "the pipe was closed", errno.ENOSPC: "the device is full"}.get(
        err.errno or 0, err.strerror or type(err).__name__
    )
    return f"{name} could not take all the output ({reason}); the output there is incomplete."
