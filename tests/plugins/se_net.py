"""Model factories for ``--backbone tests/plugins/se_net.py:FACTORY``: small networks that carry gates of their own,
built without attnbench's hooks, as a user's model would be.

``make``: three blocks, each with a ``Gate`` (an SE written with ``nn.Linear``, a class attnbench does not know) under
``blocks.N.gate``; the model names them itself (``attn_slots``). ``make_se``: the same network with attnbench's
``SqueezeExcite`` as its gates, found by class. ``make_plain``: no gate at all.
"""

from __future__ import annotations

import torch
from torch import nn

from attnbench.modules.se import SqueezeExcite

WIDTHS = (16, 24, 32)
"""Channels of the three blocks; each block's gate sees 2× its input width (after a 1×1 expansion)."""


class Gate(nn.Module):
    """Squeeze-and-excitation with linear layers: C → C/4 → C, ReLU, sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // 4)
        self.fc2 = nn.Linear(channels // 4, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc2(torch.relu(self.fc1(x.mean((2, 3)))))
        return x * w.sigmoid()[:, :, None, None]


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, gate: type[nn.Module] | None) -> None:
        super().__init__()
        hidden = 2 * cin
        self.expand = nn.Sequential(nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(hidden, hidden, 3, 2, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden))
        self.gate = gate(hidden) if gate is not None else nn.Identity()
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.gate(self.dw(self.expand(x))))


class Net(nn.Module):
    def __init__(self, num_classes: int = 1000, gate: type[nn.Module] | None = Gate) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        chans = (8, *WIDTHS)
        self.blocks = nn.Sequential(*(Block(a, b, gate) for a, b in zip(chans, chans[1:])))
        self.head = nn.Linear(WIDTHS[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


def make(num_classes: int = 1000) -> nn.Module:
    net = Net(num_classes)
    net.attn_slots = "blocks.*.gate"
    return net


def make_se() -> nn.Module:
    return Net(gate=SqueezeExcite)


def make_plain() -> nn.Module:
    return Net(gate=None)
