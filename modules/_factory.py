"""The factories: a registered name to an attention module, a backbone with attention in it, and their defaults."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from torch import nn

from ._helpers import AttnLayer, NativeAttention, SlotLayer
from ._registry import ATTENTION, BACKBONES

__all__ = ["attention_defaults", "attention_layer", "create_attention", "create_model", "native_attention"]


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

    A backbone that carries its own attention (MobileNetV3's and EfficientNet's SE: metadata ``native_attention``)
    keeps it for that key (``"se"``): the reference network. ``"none"`` removes it, and any other module replaces
    it in its slots.

    Args:
        backbone: a key of ``BACKBONES`` (``mbv2``, ``mnext``, ``r18``, ``r50``, ``mbv3_large``, ``effnet_b0``, ...).
        attention: a key of ``ATTENTION``; ``None`` or ``"none"`` builds the baseline.
        width: channel width multiplier.
        num_classes: classifier outputs.
        position: where the module goes: one of the backbone's ``positions`` metadata (in-block slots) or
            ``"stage"`` (stage boundaries). ``None`` uses the module's own hook: in-block modules go to the
            backbone's default slot, stage modules (BAM) to the stage boundaries.
        small_input: drop the early downsampling, for 32-64 px inputs.
        attn_kwargs: keyword arguments for the attention constructor (``reduction``, ``act_layer``, ...); the
            backbone's own attention takes ``reduction`` only.
    """
    bb = BACKBONES.get(backbone)
    name = attention or "none"
    hook = ATTENTION.get(name).meta.get("hook", "block")
    positions: tuple[str, ...] = bb.meta["positions"]
    if position is None:
        position = "stage" if hook == "stage" else positions[0]
    if position != "stage" and position not in positions:
        choices = ", ".join((*positions, "stage"))
        raise ValueError(f"backbone '{backbone}' has no attention position '{position}'; choose from: {choices}.")
    layer: SlotLayer
    if name == bb.meta.get("native_attention") and position != "stage":
        layer = native_attention(backbone, attn_kwargs or {})
    else:
        layer = attention_layer(name, **(attn_kwargs or {}))
    if position == "stage":
        return bb.fn(width=width, num_classes=num_classes, small_input=small_input, stage_attn_layer=layer)
    return bb.fn(
        width=width, num_classes=num_classes, small_input=small_input, attn_layer=layer, attn_position=position
    )


def native_attention(backbone: str, attn_kwargs: dict[str, Any]) -> NativeAttention:
    """The marker that makes ``backbone`` keep its own attention, with ``attn_kwargs`` (``reduction`` at most)."""
    extra = sorted(set(attn_kwargs) - {"reduction"})
    if extra:
        raise ValueError(f"the own attention of backbone '{backbone}' takes only a reduction, not {', '.join(extra)}.")
    return NativeAttention(reduction=attn_kwargs.get("reduction"))


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
