"""Coordinate Attention and the ablation variants of its paper.

Paper: "Coordinate Attention for Efficient Mobile Network Design", Hou, Zhou, Feng, CVPR 2021,
https://arxiv.org/abs/2103.02907.
Reference implementation: houqb/CoordAttention (``coordatt.py``; ``mbv2_ca.py`` holds the same module under other
layer names), commit 7619bea.

The module: average-pool along W (C×H×1) and along H (C×1×W), concatenate, shared 1×1 conv (bias) to
``mip = max(8, C // r)`` with r = 32, BN, h_swish, split, one 1×1 conv (bias) + sigmoid per direction, and
``out = x · g_h · g_w``. The state-dict keys match ``coordatt.py``: ``conv1``, ``bn1``, ``conv_h``, ``conv_w``.

Deviations from the reference, none of which changes the numbers:
- Pooling is a mean over one axis, not ``AdaptiveAvgPool2d`` on a permuted view, and the concatenation happens on
  the pooled (C×(H+W)) strips only. The full map is read once per direction.
- The 1×1 convs are ``nn.Conv2d`` calls, as in the reference, on the concatenated strips shaped (N, C, H+W, 1).
  (An earlier version ran them as batched matmuls on the convs' weights; that measured no faster in eager mode,
  kept BN from folding into them in exported graphs and hid their MACs from counters that hook modules.)
- Without autograd recording, the second gate multiplies in place, so the scaling allocates one output tensor.
- ``h_swish`` is ``nn.Hardswish`` (identical: ``x · ReLU6(x + 3) / 6``).
- BN in training mode at batch 1 with a single pooled position falls back to running statistics (see
  ``_helpers.batch_norm``); the reference raises there.

Variants registered for the paper's ablations (Table 1 and the design tips): ``ca_x`` (pool along W only: a per-row
gate ``g_h``), ``ca_y`` (pool along H only: a per-column gate ``g_w``), ``ca_relu6`` and ``ca_silu`` (activation
swapped).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from ._helpers import batch_norm, can_inplace, hidden_channels
from ._registry import ATTENTION

_DIRECTIONS = ("hw", "h", "w")


class CoordAtt(nn.Module):
    """Coordinate Attention: direction-aware gates from strip-pooled features.

    Args:
        channels: input and output channels.
        reduction: r, the shared bottleneck is ``max(min_channels, C // r)`` wide.
        min_channels: lower bound on the bottleneck width (8 in the reference).
        act_layer: activation after the shared conv and BN (h_swish in the reference).
        gate_layer: the gate non-linearity.
        directions: ``"hw"`` (both gates, the paper's module), ``"h"`` (per-row gate only, pooled along W) or
            ``"w"`` (per-column gate only, pooled along H).
    """

    def __init__(
        self,
        channels: int,
        *,
        reduction: int = 32,
        min_channels: int = 8,
        act_layer: Callable[[], nn.Module] = nn.Hardswish,
        gate_layer: Callable[[], nn.Module] = nn.Sigmoid,
        directions: str = "hw",
    ) -> None:
        super().__init__()
        if directions not in _DIRECTIONS:
            raise ValueError(f"directions must be one of {_DIRECTIONS}, got '{directions}'")
        mip = hidden_channels(channels, reduction, min_channels)
        self.directions = directions
        self.conv1 = nn.Conv2d(channels, mip, 1, bias=True)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = act_layer()
        if "h" in directions:
            self.conv_h = nn.Conv2d(mip, channels, 1, bias=True)
        if "w" in directions:
            self.conv_w = nn.Conv2d(mip, channels, 1, bias=True)
        self.gate = gate_layer()

    def _embed(self, strips: torch.Tensor) -> torch.Tensor:
        """conv1 → BN → activation over pooled strips (N, C, ...) → (N, mip, ...)."""
        return self.act(batch_norm(self.bn1, self.conv1(strips)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        if self.directions == "h":
            return x * self.gate(self.conv_h(self._embed(x.mean(3, keepdim=True))))  # gate n,c,h,1
        if self.directions == "w":
            return x * self.gate(self.conv_w(self._embed(x.mean(2, keepdim=True))))  # gate n,c,1,w
        # Both strips share conv1 and BN; BN must see the H and W positions together, as in the reference. The
        # means keep their dims and the W strip is transposed into place (no squeeze/unsqueeze): XNNPACK refuses the
        # squeeze an int8 graph of the other form needs; the values are bit-identical.
        strips = torch.cat((x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(2, 3)), dim=2)  # n,c,h+w,1
        y_h, y_w = self._embed(strips).split((h, w), dim=2)
        g_h = self.gate(self.conv_h(y_h))  # n,c,h,1
        g_w = self.gate(self.conv_w(y_w)).transpose(2, 3)  # n,c,1,w
        out = x * g_h
        return out.mul_(g_w) if can_inplace(out, g_w) else out * g_w


_META = {
    "paper": "Coordinate Attention for Efficient Mobile Network Design (Hou et al., CVPR 2021)",
    "arxiv": "2103.02907",
    "reference": "houqb/CoordAttention coordatt.py",
    "hook": "block",
}
ATTENTION.register("ca", CoordAtt, **_META)
ATTENTION.register(
    "ca_x", functools.partial(CoordAtt, directions="h"), variant="X attention: per-row gate only", **_META
)
ATTENTION.register(
    "ca_y", functools.partial(CoordAtt, directions="w"), variant="Y attention: per-column gate only", **_META
)
ATTENTION.register("ca_relu6", functools.partial(CoordAtt, act_layer=nn.ReLU6), variant="ReLU6 activation", **_META)
ATTENTION.register("ca_silu", functools.partial(CoordAtt, act_layer=nn.SiLU), variant="SiLU activation", **_META)
