"""``torch.compile`` with the default inductor backend; compilation happens on the first (untimed) call."""

from __future__ import annotations

import torch
from torch import nn

from .base import Prepared, Request


class Compile:
    name = "compile"
    extra = None
    devices = ("cpu", "cuda")
    quantizes = False

    def missing(self, quantize: str = "none") -> list[str]:
        return []

    def version(self) -> str:
        return torch.__version__

    def prepare(self, model: nn.Module, x: torch.Tensor, request: Request) -> Prepared:
        compiled = torch.compile(model)
        return Prepared(call=lambda: compiled(x), run=compiled, graph="torch.compile (inductor)")


RUNTIME = Compile()
