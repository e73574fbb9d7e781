"""Where a built model runs for timing: one adapter per runtime, each in its own file, behind one interface.

An adapter turns an eval-mode ``nn.Module`` and an example input into a ``Prepared`` model: the zero-argument call
to time, a function that runs the same built model on any input of that shape (the runner checks it against eager
before timing it), and the graph form it built. Adding a runtime (TensorRT, another execution provider, ...) is one
more file here and one line in ``RUNTIMES``.

A runtime that needs an optional package names its extra (``pip install -e '.[onnx]'``); ``missing`` says what is
not installed without importing anything heavy, so a spec is refused before any measuring.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import torch
from torch import nn

from ..errors import RuntimeUnavailableError, UnknownNameError, UsageError, opt
from . import ort, ov, xnnpack
from .base import OpTally, Prepared, Request, Runtime
from .torch_runtime import COMPILE, EAGER

__all__ = ["RUNTIMES", "OpTally", "Prepared", "Request", "Runtime", "check_builds", "get", "prepare"]

QUANTIZE = ("none", "int8")
"""What ``quantize`` takes: ``none`` (the model's own dtype) or ``int8`` (static, calibrated)."""


RUNTIMES: dict[str, Runtime] = {
    r.name: r for r in (EAGER, COMPILE, ort.RUNTIME, ort.CUDA_RUNTIME, ov.RUNTIME, xnnpack.RUNTIME)
}
LAYOUTS = ("channels_last",)
"""What a build may add to a PyTorch runtime after ``+``."""


def split_build(build: str) -> tuple[str, str]:
    """``compile+channels_last`` → ``("compile", "channels_last")``; the old ``channels_last`` build is eager's."""
    name, _, layout = build.partition("+")
    if name == "channels_last":
        return "eager", "channels_last"
    return name, layout


def runtime_of(build: str) -> str:
    return split_build(build)[0]


def get(name: str, option: str = opt("runtime")) -> Runtime:
    """The runtime ``name``, or a one-line ``UnknownNameError`` listing the valid ones and the closest match."""
    if name in RUNTIMES:
        return RUNTIMES[name]
    close = difflib.get_close_matches(name, list(RUNTIMES), n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UnknownNameError(f"{option} '{name}' is not a runtime; choose from: {', '.join(RUNTIMES)}.{hint}")


def install_hint(extra: str) -> str:
    return f"pip install -e '.[{extra}]' (or pip install 'attnbench[{extra}]')"


def check_builds(builds: Iterable[str], device: str, dtype: str, quantize: str, option: str = opt("runtime")) -> None:
    """Refuse, before any measuring, a build whose runtime is unknown, not installed, or cannot do what is asked.

    Raises:
        UnknownNameError: an unknown runtime (with the closest match).
        RuntimeUnavailableError: a runtime whose packages are not installed (naming the extra).
        UsageError: a layout, device, dtype or quantization the runtime does not take.
    """
    builds = list(builds)
    if quantize not in QUANTIZE:
        raise UsageError(f"{opt('quantize')} '{quantize}' is not supported; choose from: {', '.join(QUANTIZE)}.")
    kind = "cuda" if device.startswith("cuda") else "cpu"
    for build in builds:
        name, layout = split_build(build)
        rt = get(name, option)
        if layout and (layout not in LAYOUTS or rt.extra is not None):
            raise UsageError(f"build '{build}' is not supported: only eager and compile take '+channels_last'.")
        if kind not in rt.devices:
            others = [r for r in RUNTIMES.values() if kind in r.devices]
            raise UsageError(
                f"{option} {name} runs on {', '.join(rt.devices)}, not {opt('device')} {device}; on {kind} use: "
                f"{', '.join(r.name for r in others)}."
            )
        if rt.extra is not None and dtype != "float32":
            raise UsageError(
                f"{option} {name} measures float32 (or {opt('quantize')} int8); use {opt('dtype')} float32."
            )
    if quantize != "none":
        quantizers = [r.name for r in RUNTIMES.values() if r.quantizes]
        plain = [runtime_of(b) for b in builds if not get(runtime_of(b), option).quantizes]
        if plain:
            raise UsageError(
                f"{opt('quantize')} {quantize} is done by {', '.join(quantizers)}; {option} {', '.join(dict.fromkeys(plain))} "
                f"does not quantize: measure it without {opt('quantize')}, or choose {option} {quantizers[0]}."
            )
    for build in builds:
        rt = get(runtime_of(build), option)
        gone = rt.missing(quantize)
        if gone and rt.extra is not None:
            what = f" with {opt('quantize')} {quantize}" if quantize != "none" and gone != rt.missing() else ""
            raise RuntimeUnavailableError(
                f"{option} {rt.name}{what} needs {', '.join(gone)}, which is not installed; install the "
                f"'{rt.extra}' extra: {install_hint(rt.extra)}."
            )
        if gone:
            raise RuntimeUnavailableError(f"{option} {rt.name} is not usable here: {'; '.join(gone)}.")


def prepare(model: nn.Module, x: torch.Tensor, build: str, request: Request | None = None) -> Prepared:
    """The prepared model for one build: a runtime name, optionally joined with ``+channels_last``.

    The channels_last memory format is applied to model and input before the runtime sees them.
    """
    name, layout = split_build(build)
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return RUNTIMES[name].prepare(model, x, request or Request())
