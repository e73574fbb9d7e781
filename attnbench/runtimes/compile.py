"""``torch.compile`` with the default inductor backend; compilation happens on the first (untimed) call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class Compile:
    name = "compile"

    def version(self) -> str:
        return torch.__version__

    def prepare(self, model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
        compiled = torch.compile(model)
        return lambda: compiled(x)


RUNTIME = Compile()
