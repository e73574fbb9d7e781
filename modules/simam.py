"""SimAM: a simple, parameter-free attention module.

Paper: "SimAM: A Simple, Parameter-Free Attention Module for Convolutional Neural Networks", Yang, Zhang, Li, Xie,
ICML 2021 (PMLR 139:11863-11874), https://proceedings.mlr.press/v139/yang21o.html (no arXiv version).
Reference implementation: ZjjConan/SimAM ``networks/attentions/simam_module.py`` (``simam_module``), commit ae98f43.

Each neuron t of a channel gets the inverse of its minimal energy (the paper's Eq. 5 and the refinement after it),
``1 / e*_t = (t − μ)² / (4 (σ² + λ)) + 1/2``, with μ the channel's mean and σ² = Σ (x − μ)² / (H·W − 1) over the
channel's H·W positions, and the output is ``x · sigmoid(1 / e*)``: a 3-D (per position and channel) gate with no
parameters. λ = 1e-4 (the reference module's default).

Deviations from the reference:
- On a 1×1 map the reference divides 0 by 0 (H·W − 1 = 0) and returns NaN. Here the divisor is
  ``max(H·W − 1, 1)``: every deviation is 0 there, so the gate is sigmoid(1/2), as on any constant map.
- Without autograd recording, the division and the +1/2 run in place on the squared deviations.
- Placement is the backbone's slot, as for every module here (the reference's MobileNetV2 puts SimAM between each
  depthwise conv and its BatchNorm, its ResNets after the last BN of each block: ``--position before_add``).
- The reference's ImageNet training commands pass λ = 0.1 (``--attention_param``); λ = 1e-4 is the module's and the
  paper's default. ``e_lambda`` sets it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._helpers import can_inplace
from ._registry import ATTENTION


class SimAM(nn.Module):
    """Parameter-free 3-D gate from each neuron's energy against its channel's statistics.

    Args:
        channels: input and output channels (the module has no weights; kept for the common constructor).
        e_lambda: λ, the regulariser of the energy.
        gate_layer: the gate non-linearity.
    """

    def __init__(
        self, channels: int, *, e_lambda: float = 1e-4, gate_layer: Callable[[], nn.Module] = nn.Sigmoid
    ) -> None:
        super().__init__()
        if not e_lambda > 0:
            raise ValueError(f"SimAM's e_lambda must be positive, got {e_lambda}")
        self.e_lambda = e_lambda
        self.gate = gate_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = max(x.shape[2] * x.shape[3] - 1, 1)
        d = (x - x.mean((2, 3), keepdim=True)).pow(2)  # squared deviation from the channel mean
        denom = 4 * (d.sum((2, 3), keepdim=True) / n + self.e_lambda)  # n,c,1,1
        inv_energy = d.div_(denom).add_(0.5) if can_inplace(d, denom) else d / denom + 0.5
        return x * self.gate(inv_energy)

    def extra_repr(self) -> str:
        return f"e_lambda={self.e_lambda}"


ATTENTION.register(
    "simam",
    SimAM,
    paper="SimAM: A Simple, Parameter-Free Attention Module (Yang et al., ICML 2021)",
    arxiv="",
    url="https://proceedings.mlr.press/v139/yang21o.html",
    reference="ZjjConan/SimAM networks/attentions/simam_module.py",
    hook="block",
)


__all__ = ["SimAM"]
