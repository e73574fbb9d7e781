"""Squeeze-and-Excitation.

Paper: "Squeeze-and-Excitation Networks", Hu, Shen, Sun, CVPR 2018, https://arxiv.org/abs/1709.01507.
Reference implementation: hujie-frank/SENet (Caffe); the PyTorch form follows timm ``layers/squeeze_excite.py``.

The block: global average pool → 1×1 conv C→C/r (bias) → ReLU → 1×1 conv C/r→C (bias) → sigmoid → scale.
r = 16 as in every model of the paper. Deviations:
- The hidden width is ``max(min_channels, C // r)`` (default ``min_channels=1``), so tiny C never gives 0 channels.
  The Coordinate Attention authors' SE for MobileNetV2 is this module with ``reduction=24`` and ``act_layer=ReLU6``.
- The pooling is ``x.mean((2, 3), keepdim=True)`` rather than ``AdaptiveAvgPool2d`` (the same numbers and count).
- ``rd_channels`` gives the bottleneck width itself, overriding r: the SE that MobileNetV3 and EfficientNet carry in
  their blocks (``backbones/mobilenetv3.py``, ``backbones/efficientnet.py``) is this module with the width, activation
  and gate of those networks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._helpers import hidden_channels
from ._registry import ATTENTION


class SqueezeExcite(nn.Module):
    """Channel gate from globally pooled features.

    Args:
        channels: input and output channels.
        reduction: r, the bottleneck is ``C // r`` wide.
        min_channels: lower bound on the bottleneck width.
        act_layer: activation between the two 1×1 convs.
        gate_layer: the gate non-linearity.
        rd_channels: the bottleneck width; when given, ``reduction`` and ``min_channels`` are not used.
    """

    def __init__(
        self,
        channels: int,
        *,
        reduction: int = 16,
        min_channels: int = 1,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
        gate_layer: Callable[[], nn.Module] = nn.Sigmoid,
        rd_channels: int | None = None,
    ) -> None:
        super().__init__()
        hidden = hidden_channels(channels, reduction, min_channels) if rd_channels is None else rd_channels
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)
        self.gate = gate_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean((2, 3), keepdim=True)  # n,c,1,1
        return x * self.gate(self.fc2(self.act(self.fc1(pooled))))


ATTENTION.register(
    "se",
    SqueezeExcite,
    paper="Squeeze-and-Excitation Networks (Hu et al., CVPR 2018)",
    arxiv="1709.01507",
    reference="hujie-frank/SENet",
    hook="block",
)


__all__ = ["SqueezeExcite"]
