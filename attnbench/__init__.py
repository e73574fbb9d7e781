"""attnbench: honest cost numbers for attention modules inside mobile backbones.

The public names load their heavy dependencies lazily, so ``import attnbench.modules`` (model code, torch only)
never imports typer, rich, pandas or fvcore.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = (
    "create_attention",
    "create_model",
    "find_se_like",
    "list_attention",
    "list_backbones",
    "list_heads",
    "profile",
    "register_backbone",
    "swap_attention",
)
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'attnbench' has no attribute '{name}'")
