"""Orchestration only: build each model of a spec, measure it, and assemble one record per model and build."""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import modules
from ..env import EnvInfo, collect_env
from ..errors import CheckpointFileError, OutputMismatchError, WeightsError, opt
from ..runtimes import RUNTIMES, OpTally, Request, prepare, runtime_of
from ..stats import RatioEstimate, min_pairs
from .build import build_model, inspect_model, make_input
from .count import count_params
from .heap import allocator_name, kept_heap
from .records import ProfileRecord
from .reduction import reduction_for
from .shape import input_hw, input_label
from .spec import BASELINE, ProfileSpec
from .timing import Latency, SampleSource, Sampling, TimerSource, clock_for, sample_until_precise, torch_threads

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ProfileResult:
    records: tuple[ProfileRecord, ...]
    warnings: tuple[str, ...]
    samples_ms: dict[tuple[str, str], tuple[float, ...]]
    """(module, build) → latency samples in ms. Sample k of every model comes from the same interleaved round,
    so ``samples[a][k] / samples[b][k]`` is a paired ratio."""


@dataclass(frozen=True)
class _Cost:
    params: int
    attn_params: int
    attn_count: int
    macs: int
    attn_macs: int
    elementwise_ops: int
    attn_elementwise_ops: int
    unsupported: str
    peak_mem_bytes: int | None


def effective_position(spec: ProfileSpec, name: str) -> str:
    """Where the module sits; empty for an entry that inserts nothing (the baseline)."""
    if modules.ATTENTION.get(name).meta.get("baseline"):
        return ""
    if spec.position:
        return spec.position
    if modules.ATTENTION.get(name).meta.get("hook") == "stage":
        return "stage"
    return str(modules.BACKBONES.get(spec.backbone).meta["positions"][0])


def _measure_cost(spec: ProfileSpec, name: str, model: nn.Module, x: torch.Tensor) -> _Cost:
    """Run the built model once, instrumented: counts, peak memory and the shape checks together."""
    attn = modules.find_attention(model)
    params = count_params(model, [m for _, m in attn])
    flops = inspect_model(spec, name, model, x)
    cost = _Cost(
        params=params.total,
        attn_params=params.attention,
        attn_count=len(attn),
        macs=flops.macs,
        attn_macs=flops.attn_macs,
        elementwise_ops=flops.elementwise_ops,
        attn_elementwise_ops=flops.attn_elementwise_ops,
        unsupported=";".join(f"{k}:{v}" for k, v in flops.unsupported.items()),
        peak_mem_bytes=flops.peak_mem_bytes if spec.memory else None,
    )
    return cost


FLOAT_TOLERANCE = 1e-4
"""A float32 build fails its check when its output differs from eager's by more than this fraction of eager's
largest output magnitude (for logits of order 1: 1e-4)."""


@dataclass(frozen=True)
class _Check:
    """What the check of one build against eager found, before it was timed."""

    graph: str
    max_abs_diff: float
    output_abs_max: float
    top1_agreement: float | None
    ops: OpTally | None


FAILURES = (Exception,)
"""What marks one model's row failed instead of ending the run: any ``Exception`` while a model is built, counted,
exported, checked or timed. That code runs the user's modules (a plugin's ``__init__`` or ``forward`` may raise
anything: ``AttributeError``, ``KeyError``, ``MemoryError``), and the failure of one configuration (CUDA out of
memory) must not cost the rows of the others. The row names the exception's type and message; ``KeyboardInterrupt``
and ``SystemExit`` still end the run."""


def failure_text(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 300 characters (the type alone when the message is empty)."""
    text = " ".join(str(exc).split())
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]


def train_step(model: torch.nn.Module, forward: Callable[[], Any]) -> Callable[[], None]:
    """One training step to time: gradients cleared, ``forward`` (the model in train mode), backward of the summed
    logits. No optimizer step: its cost does not depend on the attention module beyond its parameter count."""

    def step() -> None:
        model.zero_grad(set_to_none=True)
        forward().float().sum().backward()

    return step


def synthetic_images(spec: ProfileSpec, count: int, seed: int) -> list[torch.Tensor]:
    """``count`` seeded inputs shaped like the timing input, in batches of ``spec.batch``."""
    g = torch.Generator().manual_seed(seed)
    shape = (spec.batch, 3, *input_hw(spec.input_size))
    return [torch.randn(*shape, generator=g).to(device=spec.device) for _ in range(math.ceil(count / spec.batch))]


def _check(
    spec: ProfileSpec,
    model: Any,
    prepared: Any,
    x: torch.Tensor,
    build: str,
    agreement: list[torch.Tensor] | None,
    eager_top1: list[torch.Tensor] | None = None,
) -> _Check:
    """Run the prepared model on the timing input (and, for int8, on the agreement images) beside eager.

    Raises:
        OutputMismatchError: the output has another shape than eager's, is not finite, or (float32) differs beyond
            ``FLOAT_TOLERANCE``; the message names the difference.
    """
    with torch.inference_mode():
        ref = model(x).detach().float().cpu()
        if build == "eager":  # the reference itself
            return _Check(prepared.graph, 0.0, float(ref.abs().max()), None, prepared.ops)
        got = prepared.run(x).detach().float().cpu()
    if got.shape != ref.shape:
        raise OutputMismatchError(f"{build} gives output {tuple(got.shape)}, eager {tuple(ref.shape)}; not timed.")
    if not torch.isfinite(got).all():
        raise OutputMismatchError(f"{build} gives non-finite outputs where eager's are finite; not timed.")
    diff, scale = float((got - ref).abs().max()), float(ref.abs().max())
    if spec.quantize == "none" and spec.dtype == "float32" and diff > FLOAT_TOLERANCE * scale:
        raise OutputMismatchError(
            f"{build} output differs from eager's: max_abs_diff {diff:.3g} > {FLOAT_TOLERANCE:g} × output_abs_max "
            f"{scale:.3g}; not timed."
        )
    agree = None
    classes_of = getattr(model, "predicted_classes", lambda out: out.argmax(1))
    if spec.quantize != "none" and agreement:
        same = total = 0
        eager_top1 = [] if eager_top1 is None else eager_top1  # the model's eager classes, shared by its builds
        with torch.inference_mode():
            if not eager_top1:
                eager_top1.extend(classes_of(model(batch)).cpu() for batch in agreement)
            for batch, a in zip(agreement, eager_top1):
                b = classes_of(prepared.run(batch)).cpu()
                same, total = same + int((a == b).sum()), total + a.numel()
        agree = same / total
    return _Check(prepared.graph, diff, scale, agree, prepared.ops)


def _prepare_all(
    spec: ProfileSpec,
    models: dict[str, Any],
    x: torch.Tensor,
    progress: Progress | None,
    failed: dict[tuple[str, str], str],
    checks: dict[tuple[str, str], _Check],
    workdir: Path,
) -> dict[tuple[str, str], Callable[[], Any]]:
    """Build every (model, build) on its runtime and check it against eager; the calls to time of those that pass.

    A build that cannot be exported, built or checked gets its failure in ``failed`` and is not timed; the others
    go on. Exports are shared between the runtimes of a model (one cache per run)."""
    calibration = synthetic_images(spec, spec.calibration_images, spec.seed + 1) if spec.quantize != "none" else ()
    agreement = synthetic_images(spec, spec.agreement_images, spec.seed + 2) if spec.quantize != "none" else None
    cache: dict[Any, Any] = {}
    calls = {}
    for name, model in models.items():
        attention = tuple(n for n, _ in modules.find_attention(model))
        eager_top1: list[torch.Tensor] = []
        for build in spec.builds:
            if progress:
                progress(f"building {name} on {build}" + (f" ({spec.quantize})" if spec.quantize != "none" else ""))
            request = Request(
                threads=spec.threads,
                quantize=spec.quantize,
                calibration=tuple(calibration),
                key=name,
                attention=attention,
                workdir=workdir,
                cache=cache,
            )
            try:
                with torch_threads(spec.threads):  # exporters trace outside inference mode
                    if spec.mode == "train":  # a copy in train mode; its output is checked by the training itself
                        m = copy.deepcopy(model).train()
                        calls[(name, build)] = train_step(m, prepare(m, x, build, request).call)
                        continue
                    m = model if build == "eager" else copy.deepcopy(model)
                    prepared = prepare(m, x, build, request)
                    checks[(name, build)] = _check(spec, model, prepared, x, build, agreement, eager_top1)
            except FAILURES as exc:
                failed[(name, build)] = failure_text(exc)
                continue
            calls[(name, build)] = prepared.call
    return calls


def _time_all(
    spec: ProfileSpec,
    models: dict[str, Any],
    x: torch.Tensor,
    progress: Progress | None,
    failed: dict[tuple[str, str], str],
    source: SampleSource[tuple[str, str]] | None = None,
    clock: Callable[[], float] | None = None,
    checks: dict[tuple[str, str], _Check] | None = None,
) -> tuple[dict[tuple[str, str], Latency], Sampling[tuple[str, str]]]:
    """Time every (model, build) in interleaved rounds until every Δ is precise (``sample_until_precise``); a call
    that raises is recorded in ``failed`` and dropped. ``source`` and ``clock`` replace the real timers (tests).

    Each build is first prepared and checked against eager (``_prepare_all``); what fails there is not timed."""
    clock = clock or clock_for(spec.device)
    checks = {} if checks is None else checks
    keys = [(name, build) for name in models for build in spec.builds]
    with tempfile.TemporaryDirectory(prefix="attnbench-export-") as workdir:
        if source is None:
            calls = _prepare_all(spec, models, x, progress, failed, checks, Path(workdir))
            source = TimerSource(calls, spec.warmup, clock)
            keys = [k for k in keys if k in calls]
        pairs = {(name, build): (BASELINE, build) for name, build in keys}  # the baseline's own pair: ratio 1

        def report(rounds: int, worst: float | None) -> None:
            if progress:
                state = "" if worst is None else f", widest Δ interval ±{100 * worst:.1f} pp"
                progress(f"timing round {rounds}{state} (target ±{100 * spec.precision:g} pp)")

        grad = torch.enable_grad() if spec.mode == "train" else torch.inference_mode()
        with torch_threads(spec.threads), grad, kept_heap():
            sampling = sample_until_precise(
                source,
                keys,
                pairs,
                min_samples=spec.repeats,
                precision=spec.precision,
                max_time=spec.max_time,
                clock=clock,
                errors=FAILURES,
                progress=report,
                warm_calls=spec.warm_calls,
            )
    for key, exc in sampling.failed.items():
        failed[key] = f"timing failed: {failure_text(exc)}"
    latencies = {
        key: Latency.from_samples(samples, sampling.calls_per_sample[key])
        for key, samples in sampling.samples_ms.items()
    }
    return latencies, sampling


def precision_warning(spec: ProfileSpec, key: tuple[str, str], est: RatioEstimate, seconds: float) -> str:
    """The one line for a row whose Δlatency interval stayed wider than ``spec.precision``, with the remedy.

    The remedy follows the options the run had: with a time budget of 0 (exactly ``repeats`` rounds) only more
    rounds help, so it never says to raise the budget; one thread only when more threads were used.
    """
    label = f"{key[0]} ({key[1]})"
    repeats, max_time = opt("repeats"), opt("max_time")
    exact = f"raise {repeats} ({max_time} 0 takes exactly {repeats} rounds)" if spec.max_time == 0 else ""
    if est.low is None:
        need = min_pairs(est.confidence)
        more = exact or f"raise {repeats} or {max_time}"
        return f"{label}: no {est.confidence:.0%} interval for Δlatency from {est.n} paired samples ({need} needed); {more}."
    threads = f", run with {opt('threads')} 1" if spec.threads > 1 else ""
    return (
        f"{label}: Δlatency {100 * (est.median - 1):+.1f}% is known to ±{100 * est.half_width:.1f} pp "
        f"({est.confidence:.0%} interval, {est.n} paired samples, {seconds:.0f} s of timing), wider than the "
        f"{opt('precision')} target of ±{100 * spec.precision:g} pp; {exact or f'raise {max_time}'}{threads}, or measure "
        "on a quieter machine."
    )


def _record(
    spec: ProfileSpec,
    env: EnvInfo,
    name: str,
    build: str,
    cost: _Cost | None,
    lat: Latency | None,
    base: _Cost | None,
    est: RatioEstimate | None,
    error: str,
    check: _Check | None = None,
    stop: str = "",
) -> ProfileRecord:
    med = lat.summary.median if lat else None
    runtime = runtime_of(build)
    reduction = reduction_for(spec, name)
    ops = check.ops if check else None

    def delta(field: str) -> int | None:
        return getattr(cost, field) - getattr(base, field) if cost and base else None

    def pct(ratio: float | None) -> float | None:
        return None if ratio is None else 100 * (ratio - 1)

    return ProfileRecord(
        backbone=spec.backbone,
        module=name,
        position=effective_position(spec, name),
        reduction=reduction.value,
        reduction_rule=reduction.rule,
        width=spec.width,
        input_size=input_label(spec.input_size),
        head=spec.head or "",
        head_classes=spec.classes if spec.head else None,
        output_stride=spec.stride,
        head_slots=spec.slots,
        batch=spec.batch,
        device=spec.device,
        dtype=spec.dtype,
        threads=spec.threads,
        build=build,
        mode=spec.mode,
        runtime=runtime,
        runtime_version=RUNTIMES[runtime].version() if runtime in RUNTIMES else "",
        quantize=spec.quantize,
        graph=check.graph if check else "",
        params=cost.params if cost else None,
        attn_params=cost.attn_params if cost else None,
        attn_count=cost.attn_count if cost else None,
        macs=cost.macs if cost else None,
        attn_macs=cost.attn_macs if cost else None,
        elementwise_ops=cost.elementwise_ops if cost else None,
        attn_elementwise_ops=cost.attn_elementwise_ops if cost else None,
        flops_unsupported=cost.unsupported if cost else "",
        latency_ms_median=med,
        latency_ms_iqr=lat.summary.iqr if lat else None,
        latency_ms_mean=lat.summary.mean if lat else None,
        latency_ms_min=lat.summary.min if lat else None,
        latency_n=lat.summary.n if lat else None,
        latency_calls_per_sample=lat.calls_per_sample if lat else None,
        warm_calls=spec.warm_calls if lat else None,
        latency_repeats=spec.repeats if lat else None,
        latency_precision_pp=100 * spec.precision if lat else None,
        latency_max_time_s=spec.max_time if lat else None,
        latency_stop=stop,
        throughput_ips=spec.batch / (med / 1e3) if med else None,
        peak_mem_bytes=cost.peak_mem_bytes if cost and build == "eager" and spec.mode == "inference" else None,
        # measured on the eager model, in one inference forward
        d_params=delta("params"),
        d_macs=delta("macs"),
        d_elementwise_ops=delta("elementwise_ops"),
        d_latency_pct=pct(est.median) if est else None,
        d_latency_pct_ci_low=pct(est.low) if est else None,
        d_latency_pct_ci_high=pct(est.high) if est else None,
        max_abs_diff=check.max_abs_diff if check else None,
        output_abs_max=check.output_abs_max if check else None,
        top1_agreement=check.top1_agreement if check else None,
        attn_ops_int8=ops.int8 if ops else None,
        attn_ops_float=ops.float if ops else None,
        attn_float_op_types=";".join(f"{k}:{v}" for k, v in ops.float_types.items()) if ops else "",
        status="failed" if error else "ok",
        error=error,
        torch_version=env.torch_version,
        cuda_version=env.cuda_version,
        device_name=env.device_name,
        cpu_name=env.cpu_name,
        cpu_cache_kib=env.cpu_cache_kib,
        allocator=allocator_name() if lat else "",
        host=env.host,
        git_sha=env.git_sha,
        timestamp_utc=env.timestamp_utc,
    )


def profile(
    spec: ProfileSpec,
    progress: Progress | None = None,
    on_records: Callable[[list[ProfileRecord]], None] | None = None,
) -> ProfileResult:
    """Measure the baseline and every module of ``spec``: counts once per model, latency per build.

    A model that fails (see ``FAILURES``) gets a row with ``status="failed"`` and its error, and the others go on;
    when the baseline itself fails, every row of the run is failed, since no delta can be formed.

    ``on_records`` receives each record the moment it is final, every record exactly once, so a caller can write
    it at once: without latency, a model's records right after it is counted (the baseline's first); with latency,
    all of them together after the interleaved timing rounds, which finish every model at the same time.
    """
    env = collect_env(spec.device)
    x = make_input(spec)
    models: dict[str, Any] = {}
    costs: dict[str, _Cost] = {}
    failed: dict[tuple[str, str], str] = {}
    made: dict[tuple[str, str], ProfileRecord] = {}
    latencies: dict[tuple[str, str], Latency] = {}
    estimates: dict[tuple[str, str], RatioEstimate] = {}
    checks: dict[tuple[str, str], _Check] = {}
    stop = ""

    def make(name: str, build: str) -> ProfileRecord:
        if (name, build) not in made:
            lat = latencies.get((name, build))
            made[(name, build)] = _record(
                spec,
                env,
                name,
                build,
                costs.get(name),
                lat,
                costs.get(BASELINE),
                estimates.get((name, build)),
                failed.get((name, build), ""),
                checks.get((name, build)),
                stop if lat else "",
            )
        return made[(name, build)]

    def emit(names: list[str]) -> None:
        fresh = [(n, b) for n in names for b in spec.builds if (n, b) not in made]
        records = [make(n, b) for n, b in fresh]
        if on_records is not None and records:
            on_records(records)

    try:
        built: dict[str, nn.Module] = {}
        for name in spec.names:  # every model is built (and its weights loaded) before anything is measured
            if progress:
                progress(f"building {name}")
            try:
                built[name] = build_model(spec, name)
            except (CheckpointFileError, WeightsError):
                raise  # a --weights file that does not fit is bad input, found before any row exists
            except FAILURES as exc:
                failed.update({(name, b): failure_text(exc) for b in spec.builds})
                if name == BASELINE:
                    break
        for name in spec.names:
            if name not in built:
                if name == BASELINE:
                    break
                if not spec.latency:
                    emit([name])
                continue
            if progress:
                progress(f"counting {name}")
            try:
                costs[name] = _measure_cost(spec, name, built[name], x)
                models[name] = built[name]
            except FAILURES as exc:
                failed.update({(name, b): failure_text(exc) for b in spec.builds})
                if name == BASELINE:
                    break
            if not spec.latency:  # nothing more will be measured for this model: its rows are final
                emit([name])
        if BASELINE not in costs:
            reason = f"baseline failed: {failed[(BASELINE, spec.builds[0])]}"
            failed = {(n, b): failed.get((n, b), reason) for n in spec.names for b in spec.builds}
            models.clear()
        if spec.latency and models:
            latencies, sampling = _time_all(spec, models, x, progress, failed, checks=checks)
    except KeyboardInterrupt as exc:
        # Ctrl-C or SIGTERM: the counts already made travel with the interrupt as ``exc.measured`` (rows without
        # latency, ``latency_stop`` interrupted), so the caller can still show them; nothing is written here.
        counted = [(n, b) for b in spec.builds for n in spec.names if n in costs]
        base = costs.get(BASELINE)
        exc.measured = tuple(  # type: ignore[attr-defined]
            _record(spec, env, n, b, costs[n], None, base, None, "", stop="interrupted") for n, b in counted
        )
        raise
    warnings: list[str] = []
    if spec.latency and models:
        stop = sampling.stop
        estimates.update(sampling.estimates)
        warnings = [
            precision_warning(spec, key, est, sampling.elapsed_s)
            for key, est in estimates.items()
            if key[0] != BASELINE and est.half_width > spec.precision
        ]
    emit(list(spec.names))
    records: list[ProfileRecord] = []
    for build in spec.builds:
        for name in spec.names:
            records.append(make(name, build))
    samples = {key: lat.samples_ms for key, lat in latencies.items()}
    return ProfileResult(tuple(records), tuple(warnings), samples)
