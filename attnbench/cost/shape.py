"""Input sizes: one side for square images (``224``), height and width for others (``1024x2048``).

A square size is an ``int`` everywhere (specs, rows, keys), as it always was, so older result files read and
compare unchanged; a non-square one is a ``(height, width)`` tuple in a spec and the text ``"HxW"`` in a row.
"""

from __future__ import annotations

import re
from typing import Any

from ..io.reading import BadValue, Rule

InputSize = int | tuple[int, int]

_HW = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*")


def parse_input_size(value: Any) -> InputSize:
    """``224``, ``"224"``, ``"1024x2048"``, ``(1024, 2048)`` → ``224`` or ``(1024, 2048)``; ``"512x512"`` → 512.

    Raises:
        ValueError: not a size (the message names the accepted forms).
    """
    if isinstance(value, tuple) and len(value) == 2:
        h, w = value
    elif isinstance(value, int) and not isinstance(value, bool):
        h = w = value
    else:
        text = str(value).strip()
        m = _HW.fullmatch(text)
        try:
            h, w = (int(m.group(1)), int(m.group(2))) if m else (int(float(text)),) * 2
        except (ValueError, OverflowError):
            raise ValueError(
                f"'{value}' is not an input size; give one side (224) or HEIGHTxWIDTH (1024x2048)"
            ) from None
        if not m and float(text) != h:
            raise ValueError(f"'{value}' is not a whole number of pixels")
    h, w = int(h), int(w)
    return h if h == w else (h, w)


def input_hw(size: InputSize) -> tuple[int, int]:
    """``(height, width)``."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def input_label(size: InputSize) -> int | str:
    """What a row holds: the side of a square size, ``"HxW"`` otherwise."""
    h, w = input_hw(size)
    return h if h == w else f"{h}x{w}"


class InputSizeRule(Rule):
    """The rule of an ``input_size`` cell: one side (``224``) or ``HxW`` (``512x1024``), each side at least 1. A cell
    reads as a row holds it (``input_label``): ``224`` or ``"512x1024"``, so keys built from read rows and from
    measured records are equal."""

    def want(self) -> str:
        return "an input size (one side like 224, or HEIGHTxWIDTH like 512x1024)"

    def parse(self, text: str, *, finite: bool = True) -> Any:
        if text == "":
            return None
        try:
            size = parse_input_size(text)
        except ValueError:
            raise BadValue(text, self.want()) from None
        if min(input_hw(size)) < 1:
            raise BadValue(text, self.want())
        return input_label(size)


INPUT_SIZE = InputSizeRule()
"""The ``input_size`` column's rule, shared by every reader of result rows."""
