"""Parameter counts; operation counts and peak memory come from one instrumented forward (``opcount``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ParamCount:
    total: int
    attention: int


def count_params(model: nn.Module, attn_modules: Iterable[nn.Module] = ()) -> ParamCount:
    """Learnable parameters of ``model`` and of its attention modules (BN running statistics excluded)."""
    attn = sum(p.numel() for m in attn_modules for p in m.parameters())
    return ParamCount(total=sum(p.numel() for p in model.parameters()), attention=attn)
