"""PyTorch eager: the module called as it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class Eager:
    name = "eager"

    def version(self) -> str:
        return torch.__version__

    def prepare(self, model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
        return lambda: model(x)


RUNTIME = Eager()
