"""``attnbench ablate``: train one backbone with each attention module (and without) under one recipe and seeds.

``AblationSpec`` is built once at the CLI (or API) edge from a preset plus explicit options and validated once.
``run_ablation`` runs every (seed, module) pair, seed-major so an interrupted sweep holds comparable runs, appends
each finished run to the CSV at once (rank 0 only under torchrun), skips runs the CSV already holds with
``resume``, and returns the records with a per-module summary: params, MACs, top-1 mean ± std over seeds, Δ against
the baseline and Welch's t-test p-value against it. Nothing here prints; progress goes to a callback.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import modules
from ..errors import InsertionError
from .data import ImageData, load_data, parse_data
from .records import COLUMNS, AblationRecord, is_done, read_records, run_key
from .spec import AblationSpec
from .summary import ModuleSummary, summarize_ablation
from .train import AccuracyResult, DistContext, TrainProgress, load_checkpoint, train_and_evaluate


@dataclass(frozen=True)
class AblationEvent:
    """Progress of a sweep: ``kind`` is ``start``, ``step``, ``done`` or ``skip`` (a run already in the CSV)."""

    kind: str
    index: int
    """0-based position of the run in the sweep."""
    total: int
    module: str
    seed: int
    train: TrainProgress | None = None
    record: AblationRecord | None = None


@dataclass(frozen=True)
class AblationResult:
    records: tuple[AblationRecord, ...]
    """Every run of the sweep in plan order: those read back from the CSV (``resume``) and the new ones."""
    summary: tuple[ModuleSummary, ...]
    skipped: int
    """Runs found in the CSV and not repeated."""
    data_name: str
    num_classes: int


@dataclass(frozen=True)
class _Cost:
    params: int
    attn_params: int
    macs: int
    elementwise_ops: int


def _build(spec: AblationSpec, name: str, num_classes: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    try:
        return modules.create_model(spec.backbone, name, width=spec.width, num_classes=num_classes,
                                    small_input=spec.small_input)  # fmt: skip
    except (ValueError, TypeError, RuntimeError, AssertionError) as exc:
        raise InsertionError(f"module '{name}' cannot be built into '{spec.backbone}': {exc}") from exc


def _cost(spec: AblationSpec, name: str, num_classes: int) -> _Cost:
    from ..cost.count import count_params
    from ..cost.opcount import count_ops

    model = _build(spec, name, num_classes, 0).eval()
    attn = modules.find_attention(model)
    params = count_params(model, [m for _, m in attn])
    flops = count_ops(model, torch.zeros(1, 3, spec.input_size, spec.input_size), [n for n, _ in attn])
    return _Cost(params.total, params.attention, flops.macs, flops.elementwise_ops)


def _checkpoint_path(spec: AblationSpec, key: tuple[Any, ...]) -> tuple[Path | None, str]:
    text = repr(key)
    if spec.checkpoint_dir is None:
        return None, text
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    kind = parse_data(spec.data).kind
    name = f"{spec.backbone}-{key[1]}-w{spec.width:g}-i{spec.input_size}-{kind}-e{spec.epochs}-s{key[-1]}-{digest}.pt"
    return spec.checkpoint_dir / name, text


def _check_checkpoints(spec: AblationSpec, keys: list[tuple[Any, ...]]) -> None:
    """Read every checkpoint a run of ``keys`` would continue from, before any run trains.

    Raises:
        CheckpointError: one cannot be read or belongs to another configuration (exit 2).
    """
    for key in keys:
        path, text = _checkpoint_path(spec, key)
        if path is not None and path.exists():
            load_checkpoint(path, text)


def _broadcast(obj: Any, dist: DistContext) -> Any:
    if not dist.active:
        return obj
    import torch.distributed as torch_dist

    box = [obj]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


def run_ablation(
    spec: AblationSpec,
    progress: Callable[[AblationEvent], None] | None = None,
    dist: DistContext | None = None,
    device: str | None = None,
) -> AblationResult:
    """Train and evaluate every (seed, module) run of ``spec``; append each to ``spec.csv`` as it finishes.

    Args:
        spec: a validated spec.
        progress: receives ``AblationEvent``s (give it on rank 0 only).
        dist: the distributed context from ``train.init_distributed``; ``None`` for one process.
        device: this process's device when it differs from ``spec.device`` (``cuda:LOCAL_RANK`` under torchrun).
    """
    from ..env import collect_env
    from ..io.csvfile import append_rows, check_target

    dist = dist or DistContext()
    device = device or spec.device
    if spec.csv is not None and dist.is_main:
        check_target(spec.csv, COLUMNS)
    old_threads = torch.get_num_threads()
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    try:
        data = load_data(spec.data_ref, spec.input_size, spec.synthetic, spec.val_fraction,
                         threads=spec.threads)  # fmt: skip
        env = collect_env(device)
        previous: dict[tuple[Any, ...], AblationRecord] = {}
        if spec.resume and spec.csv is not None and dist.is_main:
            previous = {run_key(r): r for r in read_records(spec.csv) if is_done(r)}
        previous = _broadcast(previous, dist)
        plan = [(seed, name) for seed in spec.seeds for name in spec.modules]
        templates = [_template(spec, data, name, seed, env, dist) for seed, name in plan]
        _check_checkpoints(spec, [run_key(t) for t in templates if run_key(t) not in previous])
        costs: dict[str, _Cost] = {}
        records: list[AblationRecord] = []
        skipped = 0
        for index, ((seed, name), template) in enumerate(zip(plan, templates)):
            key = run_key(template)
            if key in previous:
                skipped += 1
                records.append(previous[key])
                if progress:
                    progress(AblationEvent("skip", index, len(plan), name, seed, record=previous[key]))
                continue
            if progress:
                progress(AblationEvent("start", index, len(plan), name, seed))
            if name not in costs:
                costs[name] = _cost(spec, name, data.num_classes)
            model = _build(spec, name, data.num_classes, seed)
            ck_path, ck_key = _checkpoint_path(spec, key)

            def on_step(p: TrainProgress, index: int = index, name: str = name, seed: int = seed) -> None:
                if progress:
                    progress(AblationEvent("step", index, len(plan), name, seed, train=p))

            result = train_and_evaluate(
                model, data, spec.train_config(seed, device), progress=on_step if progress else None, dist=dist,
                checkpoint=ck_path, checkpoint_key=ck_key,
            )  # fmt: skip
            record = _finish(template, costs[name], result)
            if spec.csv is not None and dist.is_main:
                append_rows(spec.csv, COLUMNS, [dataclasses.asdict(record)])
            records.append(record)
            if progress:
                progress(AblationEvent("done", index, len(plan), name, seed, record=record))
    finally:
        torch.set_num_threads(old_threads)
    return AblationResult(tuple(records), tuple(summarize_ablation(records)), skipped, data.name, data.num_classes)


def _template(spec: AblationSpec, data: ImageData, name: str, seed: int, env: Any, dist: DistContext) -> AblationRecord:
    return AblationRecord(
        backbone=spec.backbone, module=name, width=spec.width, input_size=spec.input_size,
        small_input=spec.small_input, data=data.name, num_classes=data.num_classes, train_samples=len(data.train),
        test_samples=len(data.test), epochs=spec.epochs, batch=spec.batch, lr=spec.lr,
        weight_decay=spec.weight_decay, momentum=spec.momentum, warmup_epochs=spec.warmup_epochs,
        label_smoothing=spec.label_smoothing, seed=seed, preset=spec.preset, device=spec.device,
        threads=torch.get_num_threads(), world_size=dist.world_size, params=None, attn_params=None, macs=None,
        elementwise_ops=None, top1=None, top5=None, test_loss=None, final_loss=None, train_seconds=0.0,
        throughput_ips=0.0, epochs_done=0, status="", error="", torch_version=env.torch_version,
        cuda_version=env.cuda_version, device_name=env.device_name, cpu_name=env.cpu_name, host=env.host,
        git_sha=env.git_sha, timestamp_utc=env.timestamp_utc,
    )  # fmt: skip


def _finish(template: AblationRecord, cost: _Cost, result: AccuracyResult) -> AblationRecord:
    from datetime import datetime, timezone

    return dataclasses.replace(
        template, params=cost.params, attn_params=cost.attn_params, macs=cost.macs,
        elementwise_ops=cost.elementwise_ops, top1=result.top1, top5=result.top5, test_loss=result.test_loss,
        final_loss=result.final_loss, train_seconds=result.train_seconds, throughput_ips=result.throughput_ips,
        epochs_done=result.epochs_done, status=result.status, error=result.error,
        timestamp_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )  # fmt: skip
