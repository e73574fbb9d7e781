"""The interface every runtime adapter implements, and what it is given and gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn


@dataclass
class Request:
    """How one model is to be built by a runtime."""

    threads: int = 1
    """CPU threads the runtime may use (its own thread pool, set explicitly)."""
    quantize: str = "none"
    calibration: tuple[torch.Tensor, ...] = ()
    """Inputs shaped like the example input, for int8 calibration."""
    key: str = ""
    """The model's name; exports are cached under it in ``cache`` for the other runtimes of the same run."""
    attention: tuple[str, ...] = ()
    """Qualified names of the model's attention modules, to count which of their ops stay in float."""
    workdir: Path | None = None
    """A folder for exported files, removed by the caller after the run."""
    cache: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpTally:
    """Ops of the exported graph that belong to attention modules, by whether they run quantized."""

    int8: int
    float: int
    float_types: dict[str, int]
    """Op type → count of the float ones (``Sigmoid``, ``Mul``, ...)."""


@dataclass(frozen=True)
class Prepared:
    call: Callable[[], Any]
    """The call to time: the built model run on the example input."""
    run: Callable[[torch.Tensor], torch.Tensor]
    """The built model on another input of the same shape, as a CPU float tensor (for the checks)."""
    graph: str
    """Which graph form was built, e.g. ``nn.Module`` or ``onnx opset 20 (torch.export), QDQ int8``."""
    ops: OpTally | None = None


class Runtime(Protocol):
    name: str
    extra: str | None
    """The pip extra that installs it (``None``: installed with torch)."""
    devices: tuple[str, ...]
    """Device kinds it runs on (``cpu``, ``cuda``)."""
    quantizes: bool
    """Whether it takes ``quantize`` int8."""

    def missing(self, quantize: str = "none") -> list[str]:
        """Packages it needs that are not installed (empty: usable)."""
        ...

    def version(self) -> str:
        """The runtime's version string, recorded with every row."""
        ...

    def prepare(self, model: nn.Module, x: torch.Tensor, request: Request) -> Prepared:
        """Export ``model`` for this runtime, build it, and return the call to time on ``x``."""
        ...
