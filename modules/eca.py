"""ECA: Efficient Channel Attention.

Paper: "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks", Wang, Wu, Zhu, Li, Zuo, Hu,
CVPR 2020, https://arxiv.org/abs/1910.03151.
Reference implementation: BangguWu/ECANet ``models/eca_module.py`` (``eca_layer``), commit b332f6b.

The module: global average pool → 1-D convolution of size k across the channel axis of the pooled vector (one
weight vector shared by every channel, no bias, zero padding (k − 1)/2 at both ends) → sigmoid → scale. No
dimensionality reduction: the module holds k weights. k follows the paper's adaptive rule (Eq. 12 and the code in
its Fig. 3): ``t = int(|(log2(C) + b) / γ|)``, ``k = t`` if t is odd else ``t + 1``, with γ = 2 and b = 1
(C = 64 → 3, 128 → 5, 2048 → 7). The state-dict key ``conv.weight`` (shape 1×1×k) matches ``eca_layer``.

Deviations from the reference:
- The reference's ``eca_layer`` takes k as a fixed argument (default 3), and its released models set k by hand
  (MobileNetV2: 1 below 96 output channels, else 3); it does not compute the paper's rule. Here k is the paper's rule
  of the module's own channel count unless ``kernel_size`` is given (it must be odd, so the length is kept).
- The pooling is ``x.mean((2, 3))`` rather than ``AdaptiveAvgPool2d`` (the same numbers and count), and the conv runs
  on the (N, 1, C) vector directly instead of squeezing and transposing an (N, C, 1, 1) map.
- Placement is the backbone's slot, as for every module here (the reference puts ECA after the last BN of each
  MobileNetV2 and ResNet block; ``--position block_end`` / ``before_add`` is that place).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ._registry import ATTENTION


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """The paper's adaptive kernel size: the odd number at or just above ``int(|(log2 C + b) / γ|)``."""
    if channels < 1:
        raise ValueError(f"channels must be positive, got {channels}")
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """Channel gate from a 1-D convolution over the globally pooled channel vector.

    Args:
        channels: input and output channels (they set the adaptive kernel size).
        kernel_size: k; ``None`` takes the paper's rule ``eca_kernel_size(channels, gamma, b)``.
        gamma: γ of the adaptive rule.
        b: b of the adaptive rule.
        gate_layer: the gate non-linearity.
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel_size: int | None = None,
        gamma: float = 2,
        b: float = 1,
        gate_layer: Callable[[], nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        k = eca_kernel_size(channels, gamma, b) if kernel_size is None else kernel_size
        if k < 1 or k % 2 == 0:
            raise ValueError(f"ECA's kernel_size must be a positive odd number (it keeps the length), got {k}")
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        self.gate = gate_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        pooled = x.mean((2, 3)).unsqueeze(1)  # n,1,c
        return x * self.gate(self.conv(pooled)).reshape(n, c, 1, 1)


ATTENTION.register(
    "eca",
    ECA,
    paper="ECA-Net: Efficient Channel Attention (Wang et al., CVPR 2020)",
    arxiv="1910.03151",
    reference="BangguWu/ECANet models/eca_module.py",
    hook="block",
)


__all__ = ["ECA", "eca_kernel_size"]
