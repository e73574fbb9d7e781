"""Tiny torch-only pieces shared by the attention modules and the backbones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

AttnLayer = Callable[[int], nn.Module] | None
"""A constructor that takes the channel count and returns an attention module; ``None`` means no attention."""


@dataclass(frozen=True)
class NativeAttention:
    """Given in place of an ``attn_layer``: each slot keeps the host network's own attention module.

    MobileNetV3 and EfficientNet carry an SE in their blocks; ``create_model(host, "se")`` passes this marker, and
    the host builds its own SE (its width rule, activation and gate) where a registered module would go otherwise.

    Args:
        reduction: r in the host's own width rule; ``None`` keeps the host's own r.
    """

    reduction: int | None = None


SlotLayer = AttnLayer | NativeAttention
"""What a host with its own attention takes as ``attn_layer``: a registered module's constructor, ``None`` (no
module) or :class:`NativeAttention` (its own)."""

ATTN_ATTR = "attn"
"""Attribute name under which every block stores its attention module (``nn.Identity`` when there is none)."""

STAGE_ATTN_ATTR = "stage_attn"
"""Attribute name of the ``nn.ModuleDict`` holding stage-boundary attention modules."""

ATTN_SLOTS_ATTR = "attn_slots"
"""Attribute of a model that names its attention slots itself (qualified module names): a network attnbench did not
build, whose SE-like modules were found and swapped (``modules.swap``)."""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10 % below it (MobileNetV2 rule)."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def check_position(position: str, positions: tuple[str, ...], backbone: str) -> None:
    """Raise ``ValueError`` naming the valid choices when ``position`` is not one of ``positions``."""
    if position not in positions:
        raise ValueError(
            f"unknown attention position '{position}' for {backbone}; choose from: {', '.join(positions)}."
        )


def check_width(width: float, width_range: tuple[float, float], backbone: str) -> None:
    """Raise ``ValueError`` when ``width`` lies outside ``width_range`` (inclusive)."""
    lo, hi = width_range
    if not lo <= width <= hi:
        raise ValueError(f"width {width} is outside the range {lo}-{hi} supported by {backbone}.")


def make_attn(attn_layer: AttnLayer, channels: int) -> nn.Module:
    """Build the attention module for ``channels``, or ``nn.Identity`` when ``attn_layer`` is ``None``."""
    return attn_layer(channels) if attn_layer is not None else nn.Identity()


def make_slot_attn(attn_layer: SlotLayer, channels: int, native: Callable[[int | None], nn.Module]) -> nn.Module:
    """The module of a slot that holds the host's own attention: ``native(r)`` for :class:`NativeAttention`, else
    as :func:`make_attn` (a registered module replaces the host's own; ``None`` removes it)."""
    if isinstance(attn_layer, NativeAttention):
        return native(attn_layer.reduction)
    return make_attn(attn_layer, channels)


def find_attention(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The attention modules a backbone inserted, as ``(qualified name, module)``, outermost only.

    A model that names its slots (``ATTN_SLOTS_ATTR``) gives those; otherwise the modules stored as ``attn`` in a
    block or under ``stage_attn``. Slots holding ``nn.Identity`` (no module) are left out.
    """
    declared = getattr(model, ATTN_SLOTS_ATTR, None)
    if declared is not None:
        slots = [(name, model.get_submodule(name)) for name in declared]
        return [(name, mod) for name, mod in slots if not isinstance(mod, nn.Identity)]
    found: list[tuple[str, nn.Module]] = []
    for name, mod in model.named_modules():
        parts = name.split(".")
        is_slot = parts[-1] == ATTN_ATTR or (len(parts) >= 2 and parts[-2] == STAGE_ATTN_ATTR)
        if not is_slot or isinstance(mod, nn.Identity):
            continue
        if any(name.startswith(prev + ".") for prev, _ in found):
            continue
        found.append((name, mod))
    return found


def init_weights(model: nn.Module) -> None:
    """MobileNet-style init used by the reference code: conv N(0, sqrt(2/n)), BN 1/0, linear N(0, 0.01)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def hidden_channels(channels: int, reduction: int, min_channels: int) -> int:
    """The bottleneck width of an attention MLP: ``max(min_channels, channels // reduction)``."""
    if reduction < 1:
        raise ValueError(f"reduction must be a positive integer, got {reduction}")
    return max(min_channels, channels // reduction)


def conv_bn_act(
    cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, act: bool = True, dilation: int = 1
) -> nn.Sequential:
    """``Conv2d(bias=False) → BatchNorm2d → ReLU6`` (activation optional), padding keeps the size at stride 1."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, dilation * (k - 1) // 2, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def can_inplace(*tensors: torch.Tensor) -> bool:
    """True when autograd records nothing for these tensors, so an in-place update cannot corrupt a backward."""
    return not torch.is_grad_enabled() or not any(t.requires_grad for t in tensors)


def batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Apply ``bn``, also in training mode when each channel holds a single value.

    Batch statistics of one value per channel are undefined (PyTorch raises), which happens for an attention
    module's pooled vector at batch 1. In that case the running statistics normalise the input and are left
    unchanged, as in eval mode. Every other case is exactly ``bn(x)``.
    """
    if bn.training and x.numel() // x.shape[1] == 1:
        return nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return bn(x)
