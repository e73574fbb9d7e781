"""A tiny backbone and two attention modules for the runtime tests: small enough that every runtime exports,
builds and times it in seconds.

``tinynet``: a strided stem, one block with the attention slot, a classifier. ``sigmoid_gate``: an SE-like gate.
``no_export``: a gate through ``torch.kthvalue``, which runs in eager but has no ONNX translation, so an export
fails with the exporter's reason. ``comparators``: ECA, SimAM, GC and triplet attention one after another, so that
one export or lowering meets all their ops.
"""

from __future__ import annotations

import torch
from torch import nn

from attnbench.modules import ATTENTION, BACKBONES, create_attention


class TinyNet(nn.Module):
    def __init__(self, width=1.0, num_classes=10, small_input=False, attn_layer=None, attn_position="block"):
        super().__init__()
        c = max(8, int(16 * width))
        self.stem = nn.Sequential(
            nn.Conv2d(3, c, 3, stride=1 if small_input else 2, padding=1), nn.BatchNorm2d(c), nn.ReLU()
        )
        self.conv = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c), nn.BatchNorm2d(c), nn.ReLU6())
        self.attn = attn_layer(c) if attn_layer is not None else nn.Identity()
        self.head = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.attn(self.conv(self.stem(x)))
        return self.head(x.mean((2, 3)))


def _tinynet(width=1.0, num_classes=10, small_input=False, attn_layer=None, attn_position="block", **_):
    return TinyNet(width, num_classes, small_input, attn_layer, attn_position)


if "tinynet" not in BACKBONES:
    BACKBONES.register(
        "tinynet",
        _tinynet,
        paper="attnbench test backbone",
        arxiv="",
        positions=("block",),
        stage_slot="",
        width_range=(0.25, 2.0),
        min_input=16,
        min_input_small=8,
    )


if "sigmoid_gate" not in ATTENTION:

    @ATTENTION.register("sigmoid_gate", paper="attnbench test gate", arxiv="", hook="block")
    class SigmoidGate(nn.Module):
        def __init__(self, channels, *, reduction=4):
            super().__init__()
            self.fc1 = nn.Conv2d(channels, max(4, channels // reduction), 1)
            self.fc2 = nn.Conv2d(max(4, channels // reduction), channels, 1)

        def forward(self, x):
            return x * self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))).sigmoid()


if "no_export" not in ATTENTION:

    @ATTENTION.register("no_export", paper="attnbench test gate without an ONNX translation", arxiv="", hook="block")
    class NoExport(nn.Module):
        def __init__(self, channels, *, reduction=4):
            super().__init__()
            self.fc = nn.Conv2d(channels, channels, 1)

        def forward(self, x):
            k = torch.kthvalue(x.flatten(2), 2, dim=2).values[..., None, None]
            return x * self.fc(k).sigmoid()


if "drift" not in ATTENTION:

    @ATTENTION.register(
        "drift", paper="attnbench test gate whose eager output changes with every call", arxiv="", hook="block"
    )
    class Drift(nn.Module):
        """An exporter bakes the call count it saw into the graph; eager's next call differs from it. The count is
        the class's, so a copy of the model (each runtime gets one) shares it."""

        calls = 0

        def __init__(self, channels, *, reduction=4):
            super().__init__()

        def forward(self, x):
            type(self).calls += 1
            return x * (1.0 + type(self).calls)


if "comparators" not in ATTENTION:

    @ATTENTION.register(
        "comparators", paper="attnbench test chain of ECA, SimAM, GC and triplet attention", arxiv="", hook="block"
    )
    class Comparators(nn.Sequential):
        def __init__(self, channels, *, reduction=4):
            super().__init__(*(create_attention(n, channels) for n in ("eca", "simam", "gc", "triplet")))
