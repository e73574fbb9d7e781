"""Measurement as pure functions: parameters, op counts, latency and peak memory, each returned as data.

Nothing here prints or writes files. Latency uses ``torch.utils.benchmark.Timer`` (explicit thread count, CUDA
synchronisation built in); every sample is kept and summarised by ``stats.summarize``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.benchmark import Timer

from .flops import FlopCount, count_flops
from .stats import Summary, check_stability, summarize

__all__ = ["FlopCount", "Latency", "ParamCount", "count_flops", "count_params", "peak_memory", "time_latency"]

MIN_SAMPLE_S = 0.002
"""Each timing sample runs the model enough times to last at least this long, so timer overhead stays < 1 %."""


@dataclass(frozen=True)
class ParamCount:
    total: int
    attention: int


def count_params(model: nn.Module, attn_modules: Iterable[nn.Module] = ()) -> ParamCount:
    """Learnable parameters of ``model`` and of its attention modules (BN running statistics excluded)."""
    attn = sum(p.numel() for m in attn_modules for p in m.parameters())
    return ParamCount(total=sum(p.numel() for p in model.parameters()), attention=attn)


@dataclass(frozen=True)
class Latency:
    """Per-call latency samples in milliseconds, their summary and any stability warnings."""

    samples_ms: tuple[float, ...]
    calls_per_sample: int
    summary: Summary
    warnings: tuple[str, ...]

    @staticmethod
    def from_samples(samples_ms: Iterable[float], calls_per_sample: int, label: str = "") -> "Latency":
        samples = tuple(samples_ms)
        summary = summarize(samples)
        return Latency(samples, calls_per_sample, summary, check_stability(summary, label))


def time_latency(
    fn: Callable[[], Any],
    *,
    threads: int,
    warmup: int,
    repeats: int,
    calls_per_sample: int | None = None,
    label: str = "",
) -> Latency:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` samples of ``calls_per_sample`` calls each.

    Args:
        fn: the call to time, with its inputs bound (e.g. ``lambda: model(x)``); run under ``inference_mode``.
        threads: intra-op CPU threads, set for the duration and recorded by the caller.
        warmup: untimed calls before sampling (lazy init, allocator and cuDNN warm-up).
        repeats: number of timed samples kept.
        calls_per_sample: calls averaged into one sample; ``None`` calibrates it so a sample lasts
            ``MIN_SAMPLE_S``.
        label: names the measurement in warnings.
    """
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    with torch.inference_mode():
        if warmup:
            timer.timeit(warmup)
        if calls_per_sample is None:
            once = timer.timeit(1).median
            calls_per_sample = max(1, math.ceil(MIN_SAMPLE_S / max(once, 1e-9)))
        samples = [timer.timeit(calls_per_sample).median * 1e3 for _ in range(repeats)]
    return Latency.from_samples(samples, calls_per_sample, label)


class _LiveTensorBytes(TorchDispatchMode):
    """Tracks the bytes of storages created by the dispatched ops that are still alive, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.current = 0
        self.peak = 0

    def _sweep(self) -> None:
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.current -= self.live.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        self._sweep()
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage._cdata
                if key not in self.live:
                    self.live[key] = (StorageWeakRef(storage), storage.nbytes())
                    self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        return out


def peak_memory(model: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes held during one inference forward of ``model(x)``.

    On CUDA: ``torch.cuda.max_memory_allocated`` over the call (the caching allocator's view, workspaces included).
    On CPU: parameters + buffers + input + the largest total of intermediate tensors alive at once, tracked op by
    op. Scratch memory that a kernel allocates and frees inside one op (e.g. oneDNN workspaces) is not seen.
    """
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        with torch.inference_mode():
            model(x)
        torch.cuda.synchronize(x.device)
        return int(torch.cuda.max_memory_allocated(x.device))
    resident = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers(), x))
    tracker = _LiveTensorBytes()
    with torch.inference_mode(), tracker:
        model(x)
    return int(resident + tracker.peak)
