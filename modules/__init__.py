"""attnbench model code: the registry, the attention modules and the backbones (torch + standard library only).

Importing this package registers every built-in module and backbone. It never imports typer, rich, pandas or
fvcore (a test checks this in a subprocess).
"""

from __future__ import annotations

from ._factory import (
    accepts_keyword,
    attention_defaults,
    attention_layer,
    create_attention,
    create_model,
    native_attention,
)
from ._helpers import NativeAttention, find_attention, make_divisible
from ._registry import ATTENTION, BACKBONES, HEADS, DuplicateNameError, Entry, Registry, UnknownNameError

# Importing the files registers their entries; the order here is the order `attnbench list` shows.
# isort: off
from . import se, cbam, bam, coord, eca, simam, gc, triplet  # noqa: F401  (registration side effect)
from . import backbones  # noqa: F401
from . import heads  # noqa: F401
# isort: on

__all__ = [
    "ATTENTION",
    "BACKBONES",
    "HEADS",
    "DuplicateNameError",
    "Entry",
    "NativeAttention",
    "Registry",
    "UnknownNameError",
    "accepts_keyword",
    "attention_defaults",
    "attention_layer",
    "create_attention",
    "create_model",
    "find_attention",
    "make_divisible",
    "native_attention",
]
