"""The block MobileNetV3 and EfficientNet share: expand, depthwise, the SE slot, linear projection, residual.

Both networks build the MobileNetV2 inverted residual with a squeeze-and-excitation gate after the depthwise conv
(MobileNetV3 paper, Fig. 4; EfficientNet paper, Table 1 "MBConv"). They differ in the activation, the kernel size per
block, which blocks carry the SE, the SE's width rule and gate, and BatchNorm's epsilon; each backbone file passes
those in. The attention slot is ``after_dw``, where the network's own SE sits; blocks without an SE have no slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .._helpers import SlotLayer, make_slot_attn

POSITIONS = ("after_dw",)
"""Attention slots of :class:`MBConv`: where the network's own SE sits."""

ActLayer = Callable[..., nn.Module]


@dataclass(frozen=True)
class Norm:
    """BatchNorm settings of a network."""

    eps: float = 1e-5
    momentum: float = 0.1


DEFAULT_NORM = Norm()


def conv_norm_act(
    cin: int,
    cout: int,
    k: int,
    stride: int = 1,
    groups: int = 1,
    act_layer: ActLayer | None = None,
    norm: Norm = DEFAULT_NORM,
) -> nn.Sequential:
    """``Conv2d(bias=False) → BatchNorm2d → act_layer(inplace=True)`` (no activation when ``None``); padding keeps the
    size at stride 1."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=norm.eps, momentum=norm.momentum),
    ]
    if act_layer is not None:
        layers.append(act_layer(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Expand 1×1 → depthwise k×k → attention slot → linear 1×1 projection, with a residual add when shapes allow.

    The module in the slot is stored as ``attn`` (``nn.Identity`` when there is none); blocks whose network has no SE
    there (``native`` is ``None``) never get one.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        hidden: the expanded width; no expansion conv when it equals ``in_channels``.
        kernel: depthwise kernel size.
        stride: stride of the depthwise conv.
        act_layer: activation after the expansion and the depthwise conv.
        native: ``r -> module``, the network's own SE for this block (``r`` ``None``: its own r); ``None`` for
            blocks without an SE.
        attn_layer: a registered module's constructor (replaces the SE), ``None`` (no module) or ``NativeAttention``
            (the network's own SE).
        norm: the network's BatchNorm settings.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int,
        kernel: int,
        stride: int,
        act_layer: ActLayer,
        native: Callable[[int | None], nn.Module] | None,
        attn_layer: SlotLayer = None,
        norm: Norm = DEFAULT_NORM,
    ) -> None:
        super().__init__()
        self.use_res = stride == 1 and in_channels == out_channels
        self.expand = (
            conv_norm_act(in_channels, hidden, 1, act_layer=act_layer, norm=norm)
            if hidden != in_channels
            else nn.Identity()
        )
        self.dw = conv_norm_act(hidden, hidden, kernel, stride, groups=hidden, act_layer=act_layer, norm=norm)
        self.attn = make_slot_attn(attn_layer, hidden, native) if native is not None else nn.Identity()
        self.project = conv_norm_act(hidden, out_channels, 1, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.attn(self.dw(self.expand(x))))
        return x + out if self.use_res else out
