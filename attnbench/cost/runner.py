"""Orchestration only: build each model of a spec, measure it, and assemble one record per model and build."""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import modules
from ..env import EnvInfo, collect_env
from ..errors import AttnbenchError
from ..runtimes import prepare
from ..stats import check_sample_count
from .build import build_model, make_input
from .count import count_flops, count_params
from .memory import peak_memory
from .records import ProfileRecord
from .spec import BASELINE, ProfileSpec
from .timing import Latency, time_latency

ROUNDS = 5
"""Latency samples are taken in this many interleaved rounds over all models, so drift hits them alike."""

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


def effective_reduction(spec: ProfileSpec, name: str) -> int | None:
    """The reduction ratio the module was built with; ``None`` for entries that take none (the baseline)."""
    defaults = modules.attention_defaults(name)
    if "reduction" not in defaults:
        return None
    value = spec.reduction if spec.reduction is not None else defaults["reduction"]
    return int(value) if isinstance(value, int) else None


def _measure_cost(spec: ProfileSpec, name: str) -> tuple[Any, _Cost]:
    model = build_model(spec, name)
    x = make_input(spec)
    attn = modules.find_attention(model)
    params = count_params(model, [m for _, m in attn])
    flops = count_flops(model, x, [n for n, _ in attn])
    cost = _Cost(
        params=params.total,
        attn_params=params.attention,
        attn_count=len(attn),
        macs=flops.macs,
        attn_macs=flops.attn_macs,
        elementwise_ops=flops.elementwise_ops,
        attn_elementwise_ops=flops.attn_elementwise_ops,
        unsupported=";".join(f"{k}:{v}" for k, v in flops.unsupported.items()),
        peak_mem_bytes=peak_memory(model, x) if spec.memory else None,
    )
    return model, cost


FAILURES = (AttnbenchError, RuntimeError)
"""What marks one model's row failed instead of ending the run: user-module and insertion errors, and runtime
failures of one configuration (CUDA out-of-memory is a RuntimeError). Anything else is a bug and propagates."""


def failure_text(exc: BaseException) -> str:
    """One line, at most 300 characters."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _time_all(
    spec: ProfileSpec, models: dict[str, Any], progress: Progress | None, failed: dict[tuple[str, str], str]
) -> dict[tuple[str, str], Latency]:
    """Time every (model, build) in interleaved rounds; a call that raises is recorded in ``failed`` and dropped."""
    x = make_input(spec)
    calls = {}
    for name, model in models.items():
        for build in spec.builds:
            m = model if build == "eager" else copy.deepcopy(model)
            calls[(name, build)] = prepare(m, x, build)
    per_round = math.ceil(spec.repeats / ROUNDS)
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    per_sample: dict[tuple[str, str], int] = {}
    for r in range(ROUNDS):
        for key, fn in list(calls.items()):
            if progress:
                progress(f"timing {key[0]} ({key[1]}), round {r + 1}/{ROUNDS}")
            try:
                lat = time_latency(
                    fn, threads=spec.threads, warmup=spec.warmup if r == 0 else 1, repeats=per_round,
                    calls_per_sample=per_sample.get(key),
                )  # fmt: skip
            except FAILURES as exc:
                failed[key] = f"timing failed: {failure_text(exc)}"
                del calls[key]
                continue
            per_sample[key] = lat.calls_per_sample
            samples[key].extend(lat.samples_ms)
    return {
        key: Latency.from_samples(samples[key][: spec.repeats], per_sample[key], f"{key[0]} ({key[1]})")
        for key in calls
    }


def _record(
    spec: ProfileSpec, env: EnvInfo, name: str, build: str, cost: _Cost | None, lat: Latency | None,
    base: _Cost | None, base_lat: Latency | None, error: str,
) -> ProfileRecord:  # fmt: skip
    med = lat.summary.median if lat else None
    base_med = base_lat.summary.median if base_lat else None

    def delta(field: str) -> int | None:
        return getattr(cost, field) - getattr(base, field) if cost and base else None

    return ProfileRecord(
        backbone=spec.backbone, module=name, position=effective_position(spec, name),
        reduction=effective_reduction(spec, name), width=spec.width, input_size=spec.input_size, batch=spec.batch,
        device=spec.device, dtype=spec.dtype, threads=spec.threads, build=build,
        params=cost.params if cost else None, attn_params=cost.attn_params if cost else None,
        attn_count=cost.attn_count if cost else None, macs=cost.macs if cost else None,
        attn_macs=cost.attn_macs if cost else None, elementwise_ops=cost.elementwise_ops if cost else None,
        attn_elementwise_ops=cost.attn_elementwise_ops if cost else None,
        flops_unsupported=cost.unsupported if cost else "",
        latency_ms_median=med, latency_ms_iqr=lat.summary.iqr if lat else None,
        latency_ms_mean=lat.summary.mean if lat else None, latency_ms_min=lat.summary.min if lat else None,
        latency_n=lat.summary.n if lat else None, latency_calls_per_sample=lat.calls_per_sample if lat else None,
        throughput_ips=spec.batch / (med / 1e3) if med else None,
        peak_mem_bytes=cost.peak_mem_bytes if cost and build == "eager" else None,  # measured on the eager model
        d_params=delta("params"), d_macs=delta("macs"), d_elementwise_ops=delta("elementwise_ops"),
        d_latency_pct=100 * (med - base_med) / base_med if med is not None and base_med else None,
        status="failed" if error else "ok", error=error,
        torch_version=env.torch_version, cuda_version=env.cuda_version, device_name=env.device_name,
        cpu_name=env.cpu_name, host=env.host, git_sha=env.git_sha, timestamp_utc=env.timestamp_utc,
    )  # fmt: skip


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
    models: dict[str, Any] = {}
    costs: dict[str, _Cost] = {}
    failed: dict[tuple[str, str], str] = {}
    made: dict[tuple[str, str], ProfileRecord] = {}
    latencies: dict[tuple[str, str], Latency] = {}

    def make(name: str, build: str) -> ProfileRecord:
        if (name, build) not in made:
            made[(name, build)] = _record(
                spec, env, name, build, costs.get(name), latencies.get((name, build)), costs.get(BASELINE),
                latencies.get((BASELINE, build)), failed.get((name, build), ""),
            )  # fmt: skip
        return made[(name, build)]

    def emit(names: list[str]) -> None:
        fresh = [(n, b) for n in names for b in spec.builds if (n, b) not in made]
        records = [make(n, b) for n, b in fresh]
        if on_records is not None and records:
            on_records(records)

    for name in spec.names:
        if progress:
            progress(f"building and counting {name}")
        try:
            models[name], costs[name] = _measure_cost(spec, name)
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
        latencies = _time_all(spec, models, progress, failed)
    emit(list(spec.names))
    records: list[ProfileRecord] = []
    warnings: list[str] = list(check_sample_count(spec.repeats)) if spec.latency else []
    for build in spec.builds:
        for name in spec.names:
            lat = latencies.get((name, build))
            if lat:
                warnings.extend(lat.warnings)
            records.append(make(name, build))
    samples = {key: lat.samples_ms for key, lat in latencies.items()}
    return ProfileResult(tuple(records), tuple(warnings), samples)
