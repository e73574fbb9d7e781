"""PyTorch eager: the module called as it is."""

from __future__ import annotations

import torch
from torch import nn

from .base import Prepared, Request


class Eager:
    name = "eager"
    extra = None
    devices = ("cpu", "cuda")
    quantizes = False

    def missing(self, quantize: str = "none") -> list[str]:
        return []

    def version(self) -> str:
        return torch.__version__

    def prepare(self, model: nn.Module, x: torch.Tensor, request: Request) -> Prepared:
        return Prepared(call=lambda: model(x), run=model, graph="nn.Module")


RUNTIME = Eager()
