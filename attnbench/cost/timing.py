"""Latency: timed calls of one model (``CallTimer``) and the loop that samples a set of models until their paired
ratios are precise (``sample_until_precise``). Nothing here prints.

A sample is one block of ``calls_per_sample`` calls, timed as a whole (``timeit.Timer`` semantics: the garbage
collector is off inside the block) and divided by the call count. The count is calibrated once, from the timed
warm-up calls, so a block lasts at least ``MIN_SAMPLE_S``. CUDA is synchronised before each clock reading, as
``torch.utils.benchmark.Timer`` does.

Warm samples: models are timed in interleaved rounds, so without care a model's sample starts right after another
model ran, with the caches full of that model's weights and activations. Tools that time one model repeatedly
(OpenVINO's ``benchmark_app``, a plain ONNX Runtime loop, ``torch.utils.benchmark``) never see that refill; for a
fast model it is a large part of one call (MobileNetV2 at batch 1 on OpenVINO: 7.5 ms cold, 6.5 ms warm), and it
dilutes the larger model's share. So by default each timed sample follows ``WARM_CALLS`` untimed call(s) of the same
model (one call runs through all of its weights and activations, which puts the caches where a repeated call finds
them); ``warm_calls=0`` keeps the cold samples.

The loop takes the sample source and the clock as arguments, so it runs on fakes in the tests.
"""

from __future__ import annotations

import contextlib
import math
import time
import timeit
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import torch

from ..stats import CONFIDENCE, RatioEstimate, Summary, min_pairs, paired_ratio, summarize
from .heap import kept_heap

MIN_SAMPLE_S = 0.002
"""Each timing sample runs the model enough times to last at least this long, so timer overhead stays < 1 %."""

MAX_SAMPLES = 100_000
"""Rounds never go beyond this many samples per model, whatever the time budget."""

WARM_CALLS = 1
"""Untimed calls of a model right before each of its timed samples (0: cold samples)."""

WARMUP_MAX_S = 2.0
"""Warm-up stops after this long once two calls are done (one slow forward, e.g. at batch 32, is warm-up enough)."""

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Latency:
    """Per-call latency samples in milliseconds and their summary."""

    samples_ms: tuple[float, ...]
    calls_per_sample: int
    summary: Summary

    @staticmethod
    def from_samples(samples_ms: Iterable[float], calls_per_sample: int) -> Latency:
        samples = tuple(samples_ms)
        return Latency(samples, calls_per_sample, summarize(samples))


def clock_for(device: str) -> Callable[[], float]:
    """``time.perf_counter``, synchronising ``device`` first when it is a CUDA device."""
    if device.startswith("cuda"):

        def synced() -> float:
            torch.cuda.synchronize(device)
            return time.perf_counter()

        return synced
    return time.perf_counter


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Intra-op CPU threads set to ``threads`` for the duration (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class CallTimer:
    """Times one zero-argument call: ``warm_up`` once (which also calibrates the block size), then ``sample``.

    Run it under ``torch.inference_mode()`` and ``torch_threads`` (``time_all`` callers do).
    """

    def __init__(self, fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> None:
        self._fn = fn
        self._clock = clock
        self._timer = timeit.Timer(stmt=fn, timer=clock)
        self.calls_per_sample = 1

    def warm_up(self, calls: int, calls_per_sample: int | None = None) -> int:
        """``calls`` timed but unrecorded calls (at least one; fewer when two or more have taken ``WARMUP_MAX_S``);
        each sample then averages enough calls to last ``MIN_SAMPLE_S`` by the fastest of them, or
        ``calls_per_sample`` when given. Returns that count."""
        fastest = math.inf
        start = self._clock()
        for i in range(max(1, calls)):
            t0 = self._clock()
            self._fn()
            t1 = self._clock()
            fastest = min(fastest, t1 - t0)
            if i >= 1 and t1 - start >= WARMUP_MAX_S:
                break
        if calls_per_sample is None:
            calls_per_sample = max(1, math.ceil(MIN_SAMPLE_S / max(fastest, 1e-9)))
        self.calls_per_sample = calls_per_sample
        return calls_per_sample

    def sample(self) -> float:
        """One sample: milliseconds per call over a block of ``calls_per_sample`` calls."""
        return self._timer.timeit(self.calls_per_sample) / self.calls_per_sample * 1e3

    def warm(self, calls: int) -> None:
        """``calls`` untimed calls (to put the caches where a repeated call finds them)."""
        for _ in range(calls):
            self._fn()


def time_latency(
    fn: Callable[[], Any],
    *,
    threads: int,
    warmup: int,
    repeats: int,
    calls_per_sample: int | None = None,
    device: str = "cpu",
) -> Latency:
    """Time ``fn()`` alone: ``warmup`` calls (at least one, for calibration), then ``repeats`` samples.

    Args:
        fn: the call to time, with its inputs bound (e.g. ``lambda: model(x)``); run under ``inference_mode``.
        threads: intra-op CPU threads, set for the duration and recorded by the caller.
        warmup: untimed calls before sampling (lazy init, allocator and cuDNN warm-up).
        repeats: number of timed samples kept.
        calls_per_sample: calls averaged into one sample; ``None`` calibrates it so a sample lasts
            ``MIN_SAMPLE_S``.
        device: the device ``fn`` runs on (CUDA is synchronised around each block).
    """
    timer = CallTimer(fn, clock_for(device))
    with torch_threads(threads), torch.inference_mode(), kept_heap():
        n = timer.warm_up(warmup, calls_per_sample)
        samples = [timer.sample() for _ in range(repeats)]
    return Latency.from_samples(samples, n)


class SampleSource(Protocol[K]):
    """Where ``sample_until_precise`` gets its samples: one model per key."""

    def start(self, key: K) -> int:
        """Warm the model up; return the calls each of its samples averages."""
        ...

    def sample(self, key: K) -> float:
        """One latency sample of the model, in ms per call."""
        ...

    def warm(self, key: K, calls: int) -> None:
        """``calls`` untimed calls of the model."""
        ...


class TimerSource(Generic[K]):
    """The real sample source: one ``CallTimer`` per key, each warmed up with ``warmup`` calls."""

    def __init__(self, calls: Mapping[K, Callable[[], Any]], warmup: int, clock: Callable[[], float]) -> None:
        self.timers = {key: CallTimer(fn, clock) for key, fn in calls.items()}
        self.warmup = warmup

    def start(self, key: K) -> int:
        return self.timers[key].warm_up(self.warmup)

    def sample(self, key: K) -> float:
        return self.timers[key].sample()

    def warm(self, key: K, calls: int) -> None:
        self.timers[key].warm(calls)


@dataclass
class Sampling(Generic[K]):
    """What ``sample_until_precise`` measured. Every model still in ``samples`` has one sample per round."""

    samples_ms: dict[K, list[float]] = field(default_factory=dict)
    calls_per_sample: dict[K, int] = field(default_factory=dict)
    failed: dict[K, BaseException] = field(default_factory=dict)
    """Models whose call raised; they are dropped from the rounds at once."""
    estimates: dict[K, RatioEstimate] = field(default_factory=dict)
    """Each paired key's latency ratio to its reference, over all rounds."""
    rounds: int = 0
    elapsed_s: float = 0.0
    met: bool = False
    """Every estimate's interval half-width is within the precision target."""
    stop: str = ""
    """What ended the rounds: ``precision`` (every interval met the target), ``max_time`` (the time budget ran out
    first), ``repeats`` (a budget of 0: exactly ``min_samples`` rounds), ``max_samples`` (``MAX_SAMPLES`` rounds);
    ``""`` when no model was left to sample."""


def sample_until_precise(
    source: SampleSource[K],
    keys: Sequence[K],
    pairs: Mapping[K, K],
    *,
    min_samples: int,
    precision: float,
    max_time: float,
    clock: Callable[[], float] = time.perf_counter,
    errors: tuple[type[BaseException], ...] = (RuntimeError,),
    confidence: float = CONFIDENCE,
    progress: Callable[[int, float | None], None] | None = None,
    warm_calls: int = WARM_CALLS,
) -> Sampling[K]:
    """Sample every model of ``keys`` in interleaved rounds until each paired ratio is precise or time runs out.

    A round takes one sample of every model, in alternating order (forward, then backward), so sample k of every
    model comes from round k and drift hits the pair alike. Right before each sample the same model makes
    ``warm_calls`` untimed calls (warm samples; 0: cold, the sample follows another model's). ``pairs`` maps a key to the key its latency is divided
    by (its baseline). After ``min_samples`` rounds the loop stops as soon as every pair's ``confidence`` interval
    of the median ratio has a half-width ≤ ``precision`` (a fraction of the ratio), or when ``max_time`` seconds of
    ``clock`` have passed since the first warm-up call. A ``max_time`` > 0 that runs out earlier ends the loop
    before ``min_samples`` too, but never before ``stats.min_pairs(confidence)`` rounds (6 at 95 %), the fewest
    with an interval; ``max_time`` 0 takes exactly
    ``min_samples`` rounds.

    A model whose ``start`` or ``sample`` raises one of ``errors`` goes to ``failed`` with its exception and leaves
    the rounds; pairs that lose a member are no longer waited for.

    ``progress(rounds, worst_half_width)`` is called after every round; the half-width is that of the latest
    precision check (``None`` before the first).
    """
    t0 = clock()
    out: Sampling[K] = Sampling()
    alive: list[K] = []
    for key in keys:
        try:
            out.calls_per_sample[key] = source.start(key)
        except errors as exc:
            out.failed[key] = exc
            continue
        alive.append(key)
        out.samples_ms[key] = []

    def estimates() -> dict[K, RatioEstimate]:
        return {
            k: paired_ratio(out.samples_ms[k], out.samples_ms[ref], confidence)
            for k, ref in pairs.items()
            if k in out.samples_ms and ref in out.samples_ms and out.rounds
        }

    next_check, worst = min_samples, None
    fewest = min_pairs(confidence)  # a time budget cuts min_samples down to this
    while alive and out.rounds < MAX_SAMPLES:
        for key in alive if out.rounds % 2 == 0 else alive[::-1]:
            try:
                if warm_calls:
                    source.warm(key, warm_calls)
                out.samples_ms[key].append(source.sample(key))
            except errors as exc:
                out.failed[key] = exc
                del out.samples_ms[key]
        alive = [k for k in alive if k in out.samples_ms]
        out.rounds += 1
        out_of_time = clock() - t0 >= max_time
        cut_short = max_time > 0 and out.rounds >= fewest and out_of_time
        if out.rounds < min_samples and not cut_short:
            if progress:
                progress(out.rounds, worst)
            continue
        if out.rounds >= next_check or out_of_time:
            worst = max((e.half_width for e in estimates().values()), default=0.0)
            next_check = out.rounds + max(1, out.rounds // 20)  # checks ~every 5 %: their cost stays small
        if progress:
            progress(out.rounds, worst)
        if out_of_time and max_time == 0:
            out.stop = "repeats"
            break
        if worst is not None and worst <= precision:
            out.stop = "precision"
            break
        if out_of_time:
            out.stop = "max_time"
            break
    else:
        out.stop = "max_samples" if alive else ""
    out.elapsed_s = clock() - t0
    out.estimates = estimates()
    out.met = all(e.half_width <= precision for e in out.estimates.values())
    return out
