"""BAM: Bottleneck Attention Module.

Paper: "BAM: Bottleneck Attention Module", Park, Woo, Lee, Kweon, BMVC 2018, https://arxiv.org/abs/1807.06514.
Reference implementation: Jongchan/attention-module ``MODELS/bam.py``, commit 459efad.

Channel branch: global average pool, MLP C→C/r (bias) → BN → ReLU → C/r→C (bias), r = 16. Spatial branch:
1×1 conv C→C/r → BN → ReLU, two 3×3 convs C/r→C/r with dilation 4 (each → BN → ReLU), 1×1 conv C/r→1. Both
branches broadcast to C×H×W.

Combination:
- ``bam`` follows the paper: ``F' = F + F · σ(Mc(F) + Ms(F))``.
- ``bam_mul`` follows the reference code, which multiplies the branches: ``F' = F · (1 + σ(Mc(F) · Ms(F)))``
  (reported as a paper/code mismatch in the reference repository's issues #1, #39 and #52; the paper's own
  ablation finds the sum better).

BAM sits at stage boundaries (where the feature map is downsampled), not in every block: its registry hook is
``stage``. Deviations from the reference:
- The channel MLP is 1×1 convs on the pooled (N, C, 1, 1) map with ``BatchNorm2d`` (the reference flattens and uses
  ``nn.Linear`` with ``BatchNorm1d``; the weights reshape one to one).
- The reference's spatial convs pad so that H ≠ W maps keep their size too (its issue #50: it assumed H = W).
- BN in training mode with one value per channel (batch 1) falls back to running statistics
  (``_helpers.batch_norm``); the reference raises there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from ._helpers import batch_norm, hidden_channels
from ._registry import ATTENTION


class BAM(nn.Module):
    """Parallel channel and spatial attention, combined into one residual gate.

    Args:
        channels: input and output channels.
        reduction: r for both branches (hidden ``max(min_channels, C // r)``).
        min_channels: lower bound on the hidden width.
        act_layer: activation inside both branches.
        gate_layer: the gate non-linearity.
        dilation: dilation of the two 3×3 spatial convs (4 in the paper).
        combine: ``"sum"`` (paper) or ``"mul"`` (reference code).
    """

    def __init__(
        self,
        channels: int,
        *,
        reduction: int = 16,
        min_channels: int = 1,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
        gate_layer: Callable[[], nn.Module] = nn.Sigmoid,
        dilation: int = 4,
        combine: str = "sum",
    ) -> None:
        super().__init__()
        if combine not in ("sum", "mul"):
            raise ValueError(f"combine must be 'sum' or 'mul', got '{combine}'")
        hidden = hidden_channels(channels, reduction, min_channels)
        self.combine = combine
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.fc_bn = nn.BatchNorm2d(hidden)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=True)
        self.reduce_bn = nn.BatchNorm2d(hidden)
        self.dil1 = nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation, bias=True)
        self.dil1_bn = nn.BatchNorm2d(hidden)
        self.dil2 = nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation, bias=True)
        self.dil2_bn = nn.BatchNorm2d(hidden)
        self.project = nn.Conv2d(hidden, 1, 1, bias=True)
        self.act = act_layer()
        self.gate = gate_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(x.mean((2, 3), keepdim=True))  # n,c/r,1,1
        mc = self.fc2(self.act(batch_norm(self.fc_bn, hidden)))  # n,c,1,1
        s = self.act(batch_norm(self.reduce_bn, self.reduce(x)))
        s = self.act(batch_norm(self.dil1_bn, self.dil1(s)))
        s = self.act(batch_norm(self.dil2_bn, self.dil2(s)))
        ms = self.project(s)  # n,1,h,w
        att = self.gate(mc + ms if self.combine == "sum" else mc * ms)
        # F + F·att in one pass; addcmul keeps autograd correct and avoids the (1 + att) temporary.
        return torch.addcmul(x, x, att)


_META = {
    "paper": "BAM: Bottleneck Attention Module (Park et al., BMVC 2018)",
    "arxiv": "1807.06514",
    "reference": "Jongchan/attention-module MODELS/bam.py",
    "hook": "stage",
}
ATTENTION.register("bam", BAM, **_META)
ATTENTION.register(
    "bam_mul", functools.partial(BAM, combine="mul"), variant="branches multiplied, as the reference code", **_META
)
