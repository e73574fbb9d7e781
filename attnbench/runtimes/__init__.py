"""Where a built model runs for timing: one adapter per runtime, each in its own file, behind one interface.

An adapter turns an eval-mode ``nn.Module`` and an example input into a zero-argument call to time. Adding a
runtime (ONNX Runtime, OpenVINO, TensorRT, ...) is one more file here and one line in ``RUNTIMES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn

from . import compile as compile_
from . import eager


class Runtime(Protocol):
    name: str

    def version(self) -> str:
        """The runtime's version string, recorded with every row."""
        ...

    def prepare(self, model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
        """The call to time: ``model`` run on ``x`` by this runtime."""
        ...


RUNTIMES: dict[str, Runtime] = {r.name: r for r in (eager.RUNTIME, compile_.RUNTIME)}


def prepare(model: nn.Module, x: torch.Tensor, build: str) -> Callable[[], Any]:
    """The call to time for one build: a runtime name, optionally joined with ``+channels_last``.

    The channels_last memory format is applied to model and input before the runtime sees them.
    """
    name, _, layout = build.partition("+")
    if name == "channels_last":  # the eager build in channels_last layout
        name, layout = "eager", "channels_last"
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return RUNTIMES[name].prepare(model, x)
