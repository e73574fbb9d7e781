"""attnbench model code: the registry, the attention modules and the backbones (torch + standard library only).

Importing this package registers every built-in module and backbone. It never imports typer, rich, pandas or
fvcore (a test checks this in a subprocess).
"""

from __future__ import annotations

import functools
from typing import Any

from torch import nn

from ._helpers import AttnLayer, find_attention, make_divisible
from ._registry import ATTENTION, BACKBONES, DuplicateNameError, Entry, Registry, UnknownNameError

# Importing the files registers their entries; the order here is the order `attnbench list` shows.
# isort: off
from . import se, cbam, bam, coord, eca, simam, gc, triplet  # noqa: F401  (registration side effect)
from . import backbones  # noqa: F401
# isort: on

__all__ = [
    "ATTENTION",
    "BACKBONES",
    "DuplicateNameError",
    "Entry",
    "Registry",
    "UnknownNameError",
    "accepts_keyword",
    "attention_defaults",
    "attention_layer",
    "create_attention",
    "create_model",
    "find_attention",
    "make_divisible",
]


def attention_layer(name: str | None, **kwargs: Any) -> AttnLayer:
    """A ``channels -> nn.Module`` constructor for the registered ``name``; ``None`` for the baseline."""
    if name is None:
        return None
    entry = ATTENTION.get(name)
    if entry.meta.get("baseline"):
        return None
    return functools.partial(entry.fn, **kwargs) if kwargs else entry.fn


def create_attention(name: str, channels: int, **kwargs: Any) -> nn.Module:
    """Build attention module ``name`` for ``channels`` channels (``nn.Identity`` for ``"none"``)."""
    layer = attention_layer(name, **kwargs)
    return layer(channels) if layer is not None else nn.Identity()


def create_model(
    backbone: str,
    attention: str | None = None,
    *,
    width: float = 1.0,
    num_classes: int = 1000,
    position: str | None = None,
    small_input: bool = False,
    attn_kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """Build ``backbone`` with ``attention`` inserted where its paper puts it.

    Args:
        backbone: a key of ``BACKBONES`` (``mbv2``, ``mnext``, ``r18``, ``r50``).
        attention: a key of ``ATTENTION``; ``None`` or ``"none"`` builds the baseline.
        width: channel width multiplier.
        num_classes: classifier outputs.
        position: where the module goes: one of the backbone's ``positions`` metadata (in-block slots) or
            ``"stage"`` (stage boundaries). ``None`` uses the module's own hook: in-block modules go to the
            backbone's default slot, stage modules (BAM) to the stage boundaries.
        small_input: drop the early downsampling, for 32-64 px inputs.
        attn_kwargs: keyword arguments for the attention constructor (``reduction``, ``act_layer``, ...).
    """
    bb = BACKBONES.get(backbone)
    name = attention or "none"
    layer = attention_layer(name, **(attn_kwargs or {}))
    hook = ATTENTION.get(name).meta.get("hook", "block")
    positions: tuple[str, ...] = bb.meta["positions"]
    if position is None:
        position = "stage" if hook == "stage" else positions[0]
    if position != "stage" and position not in positions:
        choices = ", ".join((*positions, "stage"))
        raise ValueError(f"backbone '{backbone}' has no attention position '{position}'; choose from: {choices}.")
    if position == "stage":
        return bb.fn(width=width, num_classes=num_classes, small_input=small_input, stage_attn_layer=layer)
    return bb.fn(
        width=width, num_classes=num_classes, small_input=small_input, attn_layer=layer, attn_position=position
    )


def attention_defaults(name: str) -> dict[str, Any]:
    """The keyword defaults of attention module ``name`` (a variant's fixed keywords override the class's)."""
    import inspect

    entry = ATTENTION.get(name)
    fn = entry.fn
    fixed: dict[str, Any] = {}
    while isinstance(fn, functools.partial):
        fixed = {**fn.keywords, **fixed}
        fn = fn.func
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return fixed
    found = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}
    return {**found, **fixed}


def accepts_keyword(name: str, keyword: str) -> bool:
    """Whether attention module ``name``'s constructor takes ``keyword`` (by name, or through ``**kwargs``).

    ``accepts_keyword("eca", "reduction")`` is False: ECA, SimAM and triplet attention have no reduction ratio, so a
    caller can refuse ``reduction`` for them instead of building a module that ignores it.
    """
    import inspect

    fn = ATTENTION.get(name).fn
    fixed: set[str] = set()
    while isinstance(fn, functools.partial):
        fixed |= set(fn.keywords)
        fn = fn.func
    if keyword in fixed:
        return False  # a variant that fixes the keyword takes no other value for it
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True  # a constructor without a signature: let the call decide
    return any(p.name == keyword or p.kind is p.VAR_KEYWORD for p in params)
