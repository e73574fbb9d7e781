"""PyTorch itself: ``eager`` calls the module as it is; ``compile`` calls it through ``torch.compile`` with the default
inductor backend, compiled on the first (untimed) call."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import Prepared, Request


@dataclass(frozen=True)
class TorchRuntime:
    """One of PyTorch's two ways to run a module: as it is, or compiled (``compiled``)."""

    name: str
    compiled: bool
    extra: None = None
    devices: tuple[str, ...] = ("cpu", "cuda")
    quantizes: bool = False

    def missing(self, quantize: str = "none") -> list[str]:
        return []

    def version(self) -> str:
        return torch.__version__

    def prepare(self, model: nn.Module, x: torch.Tensor, request: Request) -> Prepared:
        if not self.compiled:
            return Prepared(call=lambda: model(x), run=model, graph="nn.Module")
        compiled = torch.compile(model)
        return Prepared(call=lambda: compiled(x), run=compiled, graph="torch.compile (inductor)")


EAGER = TorchRuntime("eager", compiled=False)
COMPILE = TorchRuntime("compile", compiled=True)
