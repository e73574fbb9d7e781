"""The factories: a registered name to an attention module, a backbone with attention in it, and their defaults."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from torch import nn

from ._helpers import AttnLayer, NativeAttention, SlotLayer
from ._registry import ATTENTION, BACKBONES, HEADS

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
    num_classes: int | None = None,
    position: str | None = None,
    small_input: bool = False,
    attn_kwargs: dict[str, Any] | None = None,
    head: str | None = None,
    output_stride: int | None = None,
    head_slots: str | None = None,
) -> nn.Module:
    """Build ``backbone`` with ``attention`` inserted where its paper puts it, optionally under a dense ``head``.

    A backbone that carries its own attention (MobileNetV3's and EfficientNet's SE: metadata ``native_attention``)
    keeps it for that key (``"se"``): the reference network. ``"none"`` removes it, and any other module replaces
    it in its slots.

    Args:
        backbone: a key of ``BACKBONES`` (``mbv2``, ``mnext``, ``r18``, ``r50``, ``mbv3_large``, ``effnet_b0``, ...).
        attention: a key of ``ATTENTION``; ``None`` or ``"none"`` builds the baseline.
        width: channel width multiplier.
        num_classes: classifier outputs (``None``: 1000, or the head's own default).
        position: where the module goes: one of the backbone's ``positions`` metadata (in-block slots) or
            ``"stage"`` (stage boundaries). ``None`` uses the module's own hook: in-block modules go to the
            backbone's default slot, stage modules (BAM) to the stage boundaries.
        small_input: drop the early downsampling, for 32-64 px inputs.
        attn_kwargs: keyword arguments for the attention constructor (``reduction``, ``act_layer``, ...); the
            backbone's own attention takes ``reduction`` only.
        head: a key of ``HEADS`` (``ssdlite``, ``ssdlite_voc``, ``deeplabv3``, ``lraspp``); ``None``: the
            classification network.
        output_stride: the backbone's output stride (``None``: 32, or the head's default).
        head_slots: where attention goes with a head (``backbone+extras`` or ``backbone``; ``None``: its default).
    """
    if head is not None:
        return _create_dense(
            backbone, attention, head, width, num_classes, position, small_input, attn_kwargs, output_stride, head_slots
        )
    if output_stride not in (None, 32):
        raise ValueError(f"output stride {output_stride} needs a dense head; the classification network has 32.")
    if head_slots is not None:
        raise ValueError("head_slots needs a dense head.")
    classes = 1000 if num_classes is None else num_classes
    return _create_backbone(backbone, attention, width, classes, position, small_input, attn_kwargs, 32)


def _slot(backbone: str, attention: str | None, position: str | None) -> str:
    """Where ``attention`` goes in ``backbone``: ``position``, or the module's own hook's default."""
    positions: tuple[str, ...] = BACKBONES.get(backbone).meta["positions"]
    if position is None:
        return "stage" if ATTENTION.get(attention or "none").meta.get("hook", "block") == "stage" else positions[0]
    if position != "stage" and position not in positions:
        choices = ", ".join((*positions, "stage"))
        raise ValueError(f"backbone '{backbone}' has no attention position '{position}'; choose from: {choices}.")
    return position


def _layer(backbone: str, attention: str | None, slot: str, attn_kwargs: dict[str, Any] | None) -> SlotLayer:
    """What fills the slots: the backbone's own attention for its own key, else the registered module."""
    name = attention or "none"
    if name == BACKBONES.get(backbone).meta.get("native_attention") and slot != "stage":
        return native_attention(backbone, attn_kwargs or {})
    return attention_layer(name, **(attn_kwargs or {}))


def _create_backbone(
    backbone: str,
    attention: str | None,
    width: float,
    num_classes: int,
    position: str | None,
    small_input: bool,
    attn_kwargs: dict[str, Any] | None,
    output_stride: int,
) -> nn.Module:
    bb = BACKBONES.get(backbone)
    slot = _slot(backbone, attention, position)
    layer = _layer(backbone, attention, slot, attn_kwargs)
    common: dict[str, Any] = {"width": width, "num_classes": num_classes, "small_input": small_input}
    if output_stride != 32:  # only the dense heads' backbones take it; the classification builds never pass it
        common["output_stride"] = output_stride
    if slot == "stage":
        return bb.fn(**common, stage_attn_layer=layer)
    return bb.fn(**common, attn_layer=layer, attn_position=slot)


def _create_dense(
    backbone: str,
    attention: str | None,
    head: str,
    width: float,
    num_classes: int | None,
    position: str | None,
    small_input: bool,
    attn_kwargs: dict[str, Any] | None,
    output_stride: int | None,
    head_slots: str | None,
) -> nn.Module:
    """``create_model`` with a head: the backbone at the head's output stride, the head on it."""
    entry = HEADS.get(head)
    meta = entry.meta
    if backbone not in meta["backbones"]:
        raise ValueError(f"head '{head}' takes the backbones {', '.join(meta['backbones'])}, not '{backbone}'.")
    stride = meta["output_strides"][0] if output_stride is None else output_stride
    if stride not in meta["output_strides"]:
        choices = ", ".join(map(str, meta["output_strides"]))
        raise ValueError(f"head '{head}' takes output stride {choices}, not {stride}.")
    slots = meta["slots"][0] if head_slots is None else head_slots
    if slots not in meta["slots"]:
        raise ValueError(f"head '{head}' takes slots {', '.join(meta['slots'])}, not '{slots}'.")
    if small_input:
        raise ValueError(f"head '{head}' takes the full-stride backbone; drop small_input.")
    net = _create_backbone(backbone, attention, width, 1, position, small_input, attn_kwargs, stride)
    slot = _slot(backbone, attention, position)
    kwargs: dict[str, Any] = {"num_classes": meta["num_classes"] if num_classes is None else num_classes}
    kwargs["slots"] = slots
    if meta["task"] == "detection":
        layer = attention_layer(attention or "none", **(attn_kwargs or {})) if slot != "stage" else None
        kwargs.update(attn_layer=layer, attn_position=slot if slot != "stage" else None)
    else:
        kwargs["output_stride"] = stride
    return entry.fn(net, backbone, **kwargs)


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
