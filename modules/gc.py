"""GC: the global context block of GCNet.

Paper: "GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond", Cao, Xu, Lin, Wei, Hu, ICCV
Workshops 2019, https://arxiv.org/abs/1904.11492.
Reference implementation: xvjiarui/GCNet ``mmdet/ops/gcb/context_block.py`` (``ContextBlock``), commit 029db54.

The block (the paper's Eq. 3 and Fig. 4d): context modelling by attention pooling, a 1×1 conv C→1 (bias) gives one
logit per position, softmax over the H·W positions, and the context is the softmax-weighted sum of the features
(N×C×1×1); a bottleneck transform 1×1 conv C→C/r (bias) → LayerNorm over (C/r, 1, 1) (affine) → ReLU → 1×1 conv
C/r→C (bias); fusion by broadcast addition, ``out = x + transform(context)``. r = 16 (``ratio=1/16``, the
reference's ``r16`` configurations; its ``r4`` ones use 4). The reference's defaults are the ones here:
``pooling_type='att'`` and ``fusion_types=('channel_add',)``. The state-dict keys match ``ContextBlock``: ``conv_mask``,
``channel_add_conv.{0,1,3}``.

Deviations from the reference:
- The bottleneck is ``max(min_channels, C // r)`` wide (default ``min_channels=1``); the reference's
  ``int(C · ratio)`` is the same whenever it is at least 1, and 0 (a broken block) below 16 channels.
- The reference zero-initialises the transform's last conv (so that a block added to a pretrained network starts as
  the identity) and Kaiming-initialises ``conv_mask``. Here the convs keep PyTorch's default init, and inside a
  backbone the backbone's init covers them, as it covers every module's convs.
- Only the paper's default variant is built (attention pooling, fusion by addition); the reference's average-pooling
  and multiplicative-fusion options are its ablations.
- Placement is the backbone's slot, as for every module here (the reference inserts the block after the last BN of
  each ResNet bottleneck in stages c3-c5: ``--position before_add``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._helpers import hidden_channels
from ._registry import ATTENTION


class GlobalContext(nn.Module):
    """Global context block: attention-pooled context, bottleneck transform with LayerNorm, added to every position.

    Args:
        channels: input and output channels.
        reduction: r, the bottleneck is ``max(min_channels, C // r)`` wide.
        min_channels: lower bound on the bottleneck width.
        act_layer: activation after the LayerNorm.
    """

    def __init__(
        self,
        channels: int,
        *,
        reduction: int = 16,
        min_channels: int = 1,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        planes = hidden_channels(channels, reduction, min_channels)
        self.conv_mask = nn.Conv2d(channels, 1, 1, bias=True)
        self.channel_add_conv = nn.Sequential(
            nn.Conv2d(channels, planes, 1, bias=True),
            nn.LayerNorm([planes, 1, 1]),
            act_layer(),
            nn.Conv2d(planes, channels, 1, bias=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        weights = self.conv_mask(x).reshape(n, h * w, 1).softmax(1)  # n,hw,1: one weight per position
        context = torch.matmul(x.reshape(n, c, h * w), weights).reshape(n, c, 1, 1)
        return x + self.channel_add_conv(context)


ATTENTION.register(
    "gc",
    GlobalContext,
    paper="GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond (Cao et al., ICCVW 2019)",
    arxiv="1904.11492",
    reference="xvjiarui/GCNet mmdet/ops/gcb/context_block.py",
    hook="block",
)


__all__ = ["GlobalContext"]
