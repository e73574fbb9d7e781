"""Latency as a pure function: ``time_latency`` returns every sample and its summary, and prints nothing.

It uses ``torch.utils.benchmark.Timer`` (explicit thread count, CUDA synchronisation built in); every sample is kept
and summarised by ``stats.summarize``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.benchmark import Timer

from ..stats import Summary, check_stability, summarize

MIN_SAMPLE_S = 0.002
"""Each timing sample runs the model enough times to last at least this long, so timer overhead stays < 1 %."""


@dataclass(frozen=True)
class Latency:
    """Per-call latency samples in milliseconds, their summary and any stability warnings."""

    samples_ms: tuple[float, ...]
    calls_per_sample: int
    summary: Summary
    warnings: tuple[str, ...]

    @staticmethod
    def from_samples(samples_ms: Iterable[float], calls_per_sample: int, label: str = "") -> Latency:
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
