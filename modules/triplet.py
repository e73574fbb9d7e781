"""Triplet attention.

Paper: "Rotate to Attend: Convolutional Triplet Attention Module", Misra, Nalamada, Arasanipalai, Hou, WACV 2021,
https://arxiv.org/abs/2010.03045.
Reference implementation: landskape-ai/triplet-attention ``triplet_attention.py`` (``TripletAttention``), commit
2cf02fb.

Three branches, each a gate over two of the three axes (C, H, W) of the input, pooled along the third: Z-pool
(max and mean along the pooled axis, stacked in that order as two maps), a 7×7 conv 2→1 (no bias, padding 3), BN
(momentum 0.01 as the reference), sigmoid. Branch ``cw`` pools along H and gates each (C, W) pair; branch ``hc`` pools
along W and gates each (H, C) pair (its conv runs over an H×C map); branch ``hw`` pools along C and gates each
(H, W) position. The output is the average of the three gated tensors, ``(x·g_cw + x·g_hc + x·g_hw) / 3``. The
module holds 3 × (98 + 2) = 300 parameters whatever C is.

Deviations from the reference, none of which changes the numbers beyond float rounding:
- The reference permutes the whole input twice (and each gated result back) so that each branch is the same
  channel-pool module. Here each branch pools the input along its axis directly, and only the small pooled maps and
  gates are transposed; the three gated tensors are combined as ``x · (g_cw/3 + g_hc/3 + g_hw/3)``, equal to the
  reference's average by distributivity, in three full-tensor passes instead of six.
- The layers are named ``{cw,hc,hw}.conv`` and ``{cw,hc,hw}.bn`` (the reference nests them one level deeper, as
  ``cw.conv.conv`` and ``cw.conv.bn``; the weights map one to one).
- BN in training mode with one value per channel (batch 1 on a 1×1 map, the ``hw`` branch) falls back to running
  statistics (``_helpers.batch_norm``); the reference raises there.
- Placement is the backbone's slot, as for every module here (the reference puts the module after the last BN of
  each MobileNetV2 and ResNet block: ``--position block_end`` / ``before_add``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._helpers import batch_norm, can_inplace
from ._registry import ATTENTION


class _Gate(nn.Module):
    """Z-pooled maps (N, 2, A, B) → 7×7 conv → BN → gate, (N, 1, A, B)."""

    def __init__(self, kernel_size: int, gate_layer: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)
        self.gate = gate_layer()

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.gate(batch_norm(self.bn, self.conv(pooled)))


def _zpool(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Max and mean of ``x`` along ``dim``, stacked in that order as two maps at dim 1."""
    return torch.stack((x.amax(dim), x.mean(dim)), dim=1)


class TripletAttention(nn.Module):
    """Three cross-dimension gates from Z-pooled maps, averaged.

    Args:
        channels: input and output channels (the weights do not depend on them; kept for the common constructor).
        kernel_size: the branches' conv kernel (7 in the paper).
        gate_layer: the gate non-linearity.
    """

    def __init__(
        self, channels: int, *, kernel_size: int = 7, gate_layer: Callable[[], nn.Module] = nn.Sigmoid
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"triplet attention's kernel_size must be a positive odd number, got {kernel_size}")
        self.cw = _Gate(kernel_size, gate_layer)
        self.hc = _Gate(kernel_size, gate_layer)
        self.hw = _Gate(kernel_size, gate_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        third = 1.0 / 3.0
        g_cw = self.cw(_zpool(x, 2)).transpose(1, 2) * third  # pooled along H: n,2,c,w → gate n,c,1,w
        g_hc = self.hc(_zpool(x, 3).transpose(2, 3)).permute(0, 3, 2, 1) * third  # along W: n,2,h,c → n,c,h,1
        g_hw = self.hw(_zpool(x, 1)) * third  # along C: n,2,h,w → n,1,h,w
        s = g_cw + g_hc  # n,c,h,w
        s = s.add_(g_hw) if can_inplace(s, g_hw) else s + g_hw
        return x * s


ATTENTION.register(
    "triplet",
    TripletAttention,
    paper="Rotate to Attend: Convolutional Triplet Attention Module (Misra et al., WACV 2021)",
    arxiv="2010.03045",
    reference="landskape-ai/triplet-attention triplet_attention.py",
    hook="block",
)


__all__ = ["TripletAttention"]
