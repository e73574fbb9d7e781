"""Which reduction ratio r each model of a run is built with, and the rule that chose it (``reduction_rule``).

A comparison between modules means little until it says how their sizes were set: swapping MobileNetV3-Large's own
SE (r = 4) for Coordinate Attention at CA's own r = 32 *removes* 1.2M parameters, while in EfficientNet-B0 (whose SE
is 1/24 of the expanded width) the same swap adds 0.09M. The rules:

- ``default``: the module's own default r (``attnbench list`` shows it), or none for a module without one;
- ``given``: ``ProfileSpec.reduction``, the same r for every module of the run;
- ``matched``: ``ProfileSpec.match_params``: for each module the r whose total parameters over all the slots come
  closest to those of the host's own attention modules (``modules.swap.match_reduction``). Hosts with their own
  (MobileNetV3, EfficientNet, a model from a factory) only; stage modules (BAM), whose slots are not the host's,
  and modules whose parameters do not depend on r keep ``default``;
- ``native``: the host's own attention module (``se`` in MobileNetV3 and EfficientNet) with r in the host's own width
  rule (4 for both; ``given`` r replaces it), or none where the host does not say (a model from a factory).

The baseline has neither.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from .. import modules
from .shape import InputSize, input_hw
from .spec import ProfileSpec

RULES = ("default", "given", "matched", "native")


@dataclass(frozen=True)
class Reduction:
    """The r a model was built with (``None``: none) and the rule that chose it (one of ``RULES``; ``""`` for the
    baseline)."""

    value: int | None
    rule: str


def is_native(spec: ProfileSpec, name: str) -> bool:
    """Whether ``name`` keeps the host's own attention modules in ``spec``'s backbone (``se`` in MobileNetV3)."""
    meta = modules.BACKBONES.get(spec.backbone).meta
    return bool(meta.get("native_attention")) and name == meta["native_attention"] and spec.position != "stage"


def reduction_for(spec: ProfileSpec, name: str) -> Reduction:
    """The r model ``name`` of ``spec`` is built with, and why (module docstring)."""
    entry = modules.ATTENTION.get(name)
    if entry.meta.get("baseline"):
        return Reduction(None, "")
    if is_native(spec, name):
        own = modules.BACKBONES.get(spec.backbone).meta.get("native_reduction")
        return Reduction(spec.reduction if spec.reduction is not None else own, "native")
    own = modules.attention_defaults(name).get("reduction")
    if not isinstance(own, int):
        return Reduction(None, "default")
    if spec.reduction is not None:
        return Reduction(spec.reduction, "given")
    if spec.match_params and entry.meta.get("hook") != "stage" and spec.position != "stage":
        try:
            matched = _matched(spec, name)
        except Exception:  # a plugin module that cannot be built: building the model raises it again, into its row
            matched = None
        if matched is not None:
            return Reduction(matched, "matched")
    return Reduction(own, "default")


def kwargs_for(spec: ProfileSpec, name: str) -> dict[str, Any]:
    """The keywords model ``name`` of ``spec`` passes to its attention constructor (its r included)."""
    kw = spec.module_kwargs()
    chosen = reduction_for(spec, name)
    if chosen.rule == "matched":
        kw["reduction"] = chosen.value
    return kw


def _matched(spec: ProfileSpec, name: str) -> int | None:
    channels, target = own_attention(spec.backbone, spec.width, spec.classes, spec.small_input, spec.input_size)
    constructor = modules.ATTENTION.get(name).fn  # keyed too: a plugin may register another module under the name
    return _match(name, constructor, channels, target, tuple(sorted(spec.attn_kwargs.items())))


@functools.lru_cache(maxsize=256)
def _match(
    name: str, constructor: Any, channels: tuple[int, ...], target: int, kwargs: tuple[tuple[str, Any], ...]
) -> int | None:
    from ..modules.swap import match_reduction

    return match_reduction(name, channels, target, **dict(kwargs))


@functools.lru_cache(maxsize=64)
def own_attention(
    backbone: str, width: float, num_classes: int, small_input: bool, input_size: InputSize
) -> tuple[tuple[int, ...], int]:
    """The channel count of every slot of the host's own attention modules, and their total parameters."""
    from ..modules.swap import slot_channels

    model = modules.BACKBONES.get(backbone).fn(
        width=width, num_classes=num_classes, small_input=small_input, attn_layer=modules.NativeAttention()
    )
    slots = modules.find_attention(model)
    example = torch.randn(1, 3, *input_hw(input_size))
    channels = slot_channels(model, [n for n, _ in slots], example)
    return tuple(channels), sum(p.numel() for _, m in slots for p in m.parameters())
