"""CBAM: Convolutional Block Attention Module, and its two halves.

Paper: "CBAM: Convolutional Block Attention Module", Woo, Park, Lee, Kweon, ECCV 2018,
https://arxiv.org/abs/1807.06521.
Reference implementation: Jongchan/attention-module ``MODELS/cbam.py``, commit 459efad.

Channel gate: global average- and max-pooled vectors through one shared MLP (1×1 conv C→C/r with bias, ReLU,
1×1 conv back to C with bias), summed, sigmoid, scale. r = 16. Spatial gate, applied after the channel gate:
channel-wise max and mean maps (in that order), 7×7 conv (2→1, no bias), BN, sigmoid, scale.

Deviations from the reference, none of which changes the numbers:
- The MLP is 1×1 convs (the reference uses ``nn.Linear`` on flattened vectors; the weights reshape one to one),
  applied once to both pooled vectors, concatenated as an (N, C, 2, 1) map, instead of once per vector.
- The reference's spatial BN uses momentum 0.01; this one too. BN in training mode with a single position per
  channel (batch 1 on a 1×1 map) falls back to running statistics (``_helpers.batch_norm``).
- Without autograd recording, the spatial gate multiplies in place into the channel-gated tensor.

Registered: ``cbam`` (both gates), ``cbam_c`` (channel gate only), ``cbam_s`` (spatial gate only).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from ._helpers import batch_norm, can_inplace, hidden_channels
from ._registry import ATTENTION


class CBAM(nn.Module):
    """Sequential channel and spatial attention.

    Args:
        channels: input and output channels.
        reduction: r of the channel MLP (hidden ``max(min_channels, C // r)``).
        min_channels: lower bound on the MLP width.
        act_layer: activation inside the channel MLP.
        gate_layer: the gate non-linearity of both gates.
        kernel_size: the spatial gate's conv kernel (7 in the paper).
        channel_gate: include the channel gate.
        spatial_gate: include the spatial gate.
    """

    def __init__(
        self,
        channels: int,
        *,
        reduction: int = 16,
        min_channels: int = 1,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
        gate_layer: Callable[[], nn.Module] = nn.Sigmoid,
        kernel_size: int = 7,
        channel_gate: bool = True,
        spatial_gate: bool = True,
    ) -> None:
        super().__init__()
        if not (channel_gate or spatial_gate):
            raise ValueError("CBAM needs at least one of channel_gate and spatial_gate")
        self.channel_gate = channel_gate
        self.spatial_gate = spatial_gate
        if channel_gate:
            hidden = hidden_channels(channels, reduction, min_channels)
            self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
            self.act = act_layer()
            self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)
        if spatial_gate:
            self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
            self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)
        self.gate = gate_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channel_gate:
            pooled = torch.cat((x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)), dim=2)  # n,c,2,1
            avg, mx = self.fc2(self.act(self.fc1(pooled))).split(1, dim=2)  # n,c,1,1 each
            x = x * self.gate(avg + mx)
        if self.spatial_gate:
            pooled = torch.cat((x.amax(1, keepdim=True), x.mean(1, keepdim=True)), dim=1)
            s = self.gate(batch_norm(self.bn, self.conv(pooled)))
            # x is a fresh product here only when the channel gate ran; never scale the caller's tensor in place.
            if self.channel_gate and can_inplace(x, s):
                return x.mul_(s)
            x = x * s
        return x


_META = {
    "paper": "CBAM: Convolutional Block Attention Module (Woo et al., ECCV 2018)",
    "arxiv": "1807.06521",
    "reference": "Jongchan/attention-module MODELS/cbam.py",
    "hook": "block",
}
ATTENTION.register("cbam", CBAM, **_META)
ATTENTION.register("cbam_c", functools.partial(CBAM, spatial_gate=False), variant="channel gate only", **_META)
ATTENTION.register("cbam_s", functools.partial(CBAM, channel_gate=False), variant="spatial gate only", **_META)
