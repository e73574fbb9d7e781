"""``attnbench ablate``: train one backbone with each attention module (and without) under one recipe and seeds.

``AblationSpec`` is built once at the CLI (or API) edge from a preset plus explicit options and validated once.
``run_ablation`` runs every (seed, module) pair, seed-major so an interrupted sweep holds comparable runs, appends
each finished run to the CSV at once (rank 0 only under torchrun), skips runs the CSV already holds with
``resume``, and returns the records with a per-task, per-module summary (params, MACs, top-1 mean ± std over
seeds, Δ and Welch p against the baseline), the contrasts between modules and their difference in differences
across tasks (``summary.analyse``). Each run's per-example test predictions go to a small ``.npz`` beside the CSV.

Launchers: ``local`` and ``torchrun`` run here (DDP inside each run under torchrun); ``slurm`` submits every
pending run as a submitit job and appends each row as its job finishes. Nothing here prints; progress goes to a
callback.
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
from ..errors import InsertionError, opt
from . import records as rec
from .convergence import judge
from .data import ImageData, TaskInfo, describe_data, load_data, parse_data
from .records import ADDED_COLUMNS, COLUMNS, AblationRecord, is_done, legacy_defaults, read_records, result_key, run_key
from .spec import BASELINE, AblationSpec
from .summary import Analysis, ModuleSummary, analyse, summarize_ablation
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
    task: str = ""


@dataclass(frozen=True)
class AblationResult:
    records: tuple[AblationRecord, ...]
    """Every run of the sweep in plan order: those read back from the CSV (``resume``) and the new ones."""
    summary: tuple[ModuleSummary, ...]
    skipped: int
    """Runs found in the CSV and not repeated."""
    data_name: str
    num_classes: int
    analysis: Analysis | None = None
    """Contrasts, differences in differences and warnings (``summary.analyse``)."""
    tasks: tuple[tuple[str, int], ...] = ()
    """Every task of the sweep with its class count."""
    missing: int = 0
    """``report_only``: runs of the plan the CSV does not hold (not trained)."""


@dataclass(frozen=True)
class _Cost:
    params: int
    attn_params: int
    macs: int
    elementwise_ops: int


def module_seed(seed: int, name: str) -> int:
    """The seed of module ``name``'s own random stream in run ``seed`` (stable across processes and versions)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big") % 2**63


def _create(spec: AblationSpec, name: str, num_classes: int, seed: int) -> torch.nn.Module:
    r = spec.reduction(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            return modules.create_model(
                spec.backbone,
                name,
                width=spec.width,
                num_classes=num_classes,
                small_input=spec.small_input,
                head=spec.head,
                output_stride=spec.stride,
                attn_kwargs={"reduction": r} if r is not None else None,
            )
        except (ValueError, TypeError, RuntimeError, AssertionError) as exc:
            raise InsertionError(f"module '{name}' cannot be built into '{spec.backbone}': {exc}") from exc


def build_model(spec: AblationSpec, name: str, num_classes: int, seed: int) -> torch.nn.Module:
    """The network of run ``seed`` with module ``name``, initialised with common random numbers.

    The backbone (every tensor the baseline ``none`` has) is drawn from ``seed`` alone, so it is bit-identical for
    every module of a seed; the attention modules' tensors come from a build seeded by ``module_seed(seed, name)``.
    The data order, augmentation and dropout streams are the seed's too (``train.py``), so two modules of one seed
    differ only by the module: the paired analysis over seeds relies on it.
    """
    base = _create(spec, BASELINE, num_classes, seed)
    if name == BASELINE:
        return base
    model = _create(spec, name, num_classes, module_seed(seed, name))
    shared, own = base.state_dict(), model.state_dict()
    odd = [k for k, v in shared.items() if k not in own or own[k].shape != v.shape]
    if odd:
        raise InsertionError(
            f"module '{name}' changes the backbone of '{spec.backbone}' (tensor '{odd[0]}'), so its "
            "runs cannot share the baseline's initialisation."
        )
    model.load_state_dict({**own, **shared})
    return model


_COSTS: dict[tuple[Any, ...], _Cost] = {}


def _cost(spec: AblationSpec, name: str, num_classes: int) -> _Cost:
    from ..cost.count import count_params
    from ..cost.opcount import count_ops

    key = (
        spec.backbone,
        spec.width,
        spec.input_size,
        spec.small_input,
        spec.head,
        spec.stride,
        name,
        spec.reduction(name),
        num_classes,
    )
    if key in _COSTS:
        return _COSTS[key]
    model = _create(spec, name, num_classes, 0).eval()
    attn = modules.find_attention(model)
    params = count_params(model, [m for _, m in attn])
    flops = count_ops(model, torch.zeros(1, 3, spec.input_size, spec.input_size), [n for n, _ in attn])
    _COSTS[key] = _Cost(params.total, params.attention, flops.macs, flops.elementwise_ops)
    return _COSTS[key]


def _digest(key: tuple[Any, ...]) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()[:12]


def _checkpoint_path(spec: AblationSpec, key: tuple[Any, ...]) -> tuple[Path | None, str]:
    field = dict(zip(rec.RUN_KEY, key))
    if not field["head"]:
        # A classifier's checkpoint keeps the name and key it had before the head columns, so a sweep checkpointed
        # by an older attnbench resumes where it stopped (the "s" part of the name has always held the device).
        key = tuple(v for c, v in field.items() if c not in ("head", "output_stride"))
    text = repr(key)
    if spec.checkpoint_dir is None:
        return None, text
    kind = parse_data(str(field["data"])).kind
    name = (
        f"{spec.backbone}-{field['module']}-w{spec.width:g}-i{spec.input_size}-{kind}-e{spec.epochs}"
        f"-s{field['device']}-{_digest(key)}.pt"
    )
    return spec.checkpoint_dir / name, text


def predictions_path(csv: Path, record: AblationRecord) -> tuple[Path, str]:
    """Where a run's per-example predictions go: ``<csv stem>-predictions/<module>-s<seed>-<key digest>.npz`` beside
    the CSV; returns the path and its form relative to the CSV's folder (the ``predictions`` column)."""
    rel = f"{csv.stem}-predictions/{record.module}-s{record.seed}-{_digest(run_key(record))}.npz"
    return csv.parent / rel, rel


def save_predictions(path: Path, predictions: torch.Tensor, targets: torch.Tensor) -> None:
    """The predicted and true class of every test image, ``int16`` (``int32`` past 32767 classes), atomically."""
    import numpy as np

    from ..io.csvfile import atomic_path

    top = max([int(t.max()) for t in (targets, predictions) if t.numel()] or [0])
    dtype = np.int16 if top < 2**15 else np.int32
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from ..errors import FileWriteError

        raise FileWriteError(
            f"predictions folder '{path.parent}' could not be created ({exc.strerror or exc}); "
            f"choose another {opt('csv')}."
        ) from exc
    with atomic_path(path, option="predictions") as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, pred=predictions.numpy().astype(dtype), target=targets.numpy().astype(dtype))


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


def _load(spec: AblationSpec, task: str) -> ImageData:
    ref = parse_data(task)
    return load_data(
        ref,
        spec.input_size,
        spec.synthetic,
        spec.holdout_fraction,
        threads=spec.threads,
        augment=spec.augment_for(ref),
        val_fraction=spec.val_fraction,
        cache_dir=spec.data_cache,
    )


def execute_run(
    spec: AblationSpec,
    task: str,
    name: str,
    seed: int,
    template: AblationRecord,
    *,
    data: ImageData | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    dist: DistContext | None = None,
    device: str | None = None,
) -> tuple[AblationRecord, torch.Tensor | None, torch.Tensor]:
    """Train and evaluate one (task, module, seed) run: its finished record, test predictions and test labels.

    The unit of work of every launcher (a submitit job calls it through ``_job``).
    """
    data = data or _load(spec, task)
    cost = _cost(spec, name, data.num_classes)
    model = build_model(spec, name, data.num_classes, seed)
    ck_path, ck_key = _checkpoint_path(spec, run_key(template))
    result = train_and_evaluate(
        model,
        data,
        spec.train_config(seed, device),
        progress=progress,
        dist=dist,
        checkpoint=ck_path,
        checkpoint_key=ck_key,
    )
    return _finish(template, cost, result, data.chance_loss), result.predictions, data.test.labels


def _job(
    spec: AblationSpec, task: str, name: str, seed: int, template: AblationRecord
) -> tuple[AblationRecord, Any, Any]:
    """A submitit job: one run in a fresh process, with the spec's thread count; returns numpy arrays (picklable)."""
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    record, preds, labels = execute_run(spec, task, name, seed, template)
    return record, (preds.numpy() if preds is not None else None), labels.numpy()


def run_ablation(
    spec: AblationSpec,
    progress: Callable[[AblationEvent], None] | None = None,
    dist: DistContext | None = None,
    device: str | None = None,
) -> AblationResult:
    """Train and evaluate every (seed, task, module) run of ``spec``; append each to ``spec.csv`` as it finishes.

    Args:
        spec: a validated spec.
        progress: receives ``AblationEvent``s (give it on rank 0 only).
        dist: the distributed context from ``train.init_distributed``; ``None`` for one process.
        device: this process's device when it differs from ``spec.device`` (``cuda:LOCAL_RANK`` under torchrun).
    """
    from ..env import collect_env
    from ..errors import ResultsFileError
    from ..io.csvfile import append_rows, check_source, check_target, upgrade_header

    dist = dist or DistContext()
    device = device or spec.device
    if spec.report_only and spec.csv is not None and dist.is_main:
        check_source(spec.csv, opt("csv"))
    elif spec.csv is not None and dist.is_main:
        upgrade_header(
            spec.csv,
            COLUMNS,
            ADDED_COLUMNS,
            legacy_defaults,
            option=opt("csv"),
            filled="evaluated on test, no validation share, amp none, init global, not compiled",
        )
        check_target(spec.csv, COLUMNS)
    old_threads = torch.get_num_threads()
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    try:
        # A report reads rows only: a synthetic task's classes and sizes are known without rendering it.
        datas = {} if spec.report_only else {task: _load(spec, task) for task in spec.data}
        infos = {task: (TaskInfo.of(datas[task]) if task in datas else _describe(spec, task)) for task in spec.data}
        env = collect_env(device)
        previous: dict[tuple[Any, ...], AblationRecord] = {}
        key_of = result_key if spec.report_only else run_key
        if (spec.resume or spec.report_only) and spec.csv is not None and dist.is_main:
            rows = [r for r in read_records(spec.csv) if is_done(r)]
            if spec.report_only and not rows:
                raise ResultsFileError(
                    f"{opt('csv')} '{spec.csv}' holds no finished run; train first (drop {opt('report_only')})."
                )
            # Later rows win; a row initialised with common random numbers wins over an older one of the same run.
            for r in sorted(rows, key=lambda r: r.init == "shared"):
                previous[key_of(r)] = r
        previous = _broadcast(previous, dist)
        plan = [(seed, task, name) for seed in spec.seeds for task in spec.data for name in spec.modules]
        templates = [_template(spec, infos[task], name, seed, env, dist) for seed, task, name in plan]
        if not spec.report_only:
            _check_checkpoints(spec, [run_key(t) for t in templates if key_of(t) not in previous])
        records: list[AblationRecord | None] = [None] * len(plan)
        skipped = 0
        pending: list[int] = []
        for index, ((seed, task, name), template) in enumerate(zip(plan, templates)):
            key = key_of(template)
            if key in previous:
                skipped += 1
                records[index] = previous[key]
                if progress:
                    progress(AblationEvent("skip", index, len(plan), name, seed, record=previous[key], task=task))
            else:
                pending.append(index)

        def finish(index: int, record: AblationRecord, preds: Any, labels: Any) -> None:
            seed, task, name = plan[index]
            if spec.csv is not None and dist.is_main:
                if preds is not None:
                    path, rel = predictions_path(spec.csv, record)
                    save_predictions(path, torch.as_tensor(preds), torch.as_tensor(labels))
                    record = dataclasses.replace(record, predictions=rel)
                append_rows(spec.csv, COLUMNS, [dataclasses.asdict(record)])
            records[index] = record
            if progress:
                progress(AblationEvent("done", index, len(plan), name, seed, record=record, task=task))

        missing = len(pending) if spec.report_only else 0
        if spec.report_only:
            pass
        elif spec.launcher == "slurm":
            from .launch import run_jobs

            def started(index: int) -> None:
                if progress:
                    seed, task, name = plan[index]
                    progress(AblationEvent("start", index, len(plan), name, seed, task=task))

            run_jobs(spec, [(i, *plan[i], templates[i]) for i in pending], _job, started, finish)
        else:
            for index in pending:
                seed, task, name = plan[index]
                if progress:
                    progress(AblationEvent("start", index, len(plan), name, seed, task=task))

                def on_step(
                    p: TrainProgress, index: int = index, name: str = name, seed: int = seed, task: str = task
                ) -> None:
                    if progress:
                        progress(AblationEvent("step", index, len(plan), name, seed, train=p, task=task))

                record, preds, labels = execute_run(
                    spec,
                    task,
                    name,
                    seed,
                    templates[index],
                    data=datas[task],
                    progress=on_step if progress else None,
                    dist=dist,
                    device=device,
                )
                finish(index, record, preds, labels)
    finally:
        torch.set_num_threads(old_threads)
    done = tuple(r for r in records if r is not None)
    root = spec.csv.parent if spec.csv is not None else None
    first = infos[spec.data[0]]
    return AblationResult(
        done,
        tuple(summarize_ablation(done)),
        skipped,
        first.name,
        first.num_classes,
        analysis=analyse(done, spec.contrast_pairs(), root, predictions={}, primary=spec.primary),
        tasks=tuple((d.name, d.num_classes) for d in infos.values()),
        missing=missing,
    )


def _describe(spec: AblationSpec, task: str) -> TaskInfo:
    ref = parse_data(task)
    return describe_data(ref, spec.input_size, spec.synthetic, spec.val_fraction) or TaskInfo.of(_load(spec, task))


def _template(spec: AblationSpec, data: TaskInfo, name: str, seed: int, env: Any, dist: DistContext) -> AblationRecord:
    return AblationRecord(
        backbone=spec.backbone,
        module=name,
        width=spec.width,
        input_size=spec.input_size,
        small_input=spec.small_input,
        head=spec.head or "",
        output_stride=spec.stride,
        data=data.name,
        num_classes=data.num_classes,
        train_samples=data.train_samples,
        test_samples=data.test_samples,
        val_fraction=spec.val_fraction,
        eval_split=data.eval_split,
        epochs=spec.epochs,
        batch=spec.batch,
        lr=spec.lr,
        weight_decay=spec.weight_decay,
        momentum=spec.momentum,
        warmup_epochs=spec.warmup_epochs,
        label_smoothing=spec.label_smoothing,
        amp=spec.amp,
        reduction=spec.reduction(name),
        augment=spec.augment_for(parse_data(data.name)),
        sync_bn=spec.sync_bn and dist.active,
        seed=seed,
        init="shared",
        preset=spec.preset,
        device=spec.device,
        threads=torch.get_num_threads(),
        world_size=dist.world_size,
        compile=spec.compile,
        params=None,
        attn_params=None,
        macs=None,
        elementwise_ops=None,
        top1=None,
        top5=None,
        miou=None,
        test_loss=None,
        final_loss=None,
        converged=None,
        final_loss_ratio=None,
        curve_slope_pp_per_epoch=None,
        train_seconds=0.0,
        throughput_ips=0.0,
        epochs_done=0,
        curve_top1="",
        curve_samples=min(spec.curve_samples, data.test_samples),
        predictions="",
        launcher=spec.launcher,
        status="",
        error="",
        torch_version=env.torch_version,
        cuda_version=env.cuda_version,
        device_name=env.device_name,
        cpu_name=env.cpu_name,
        host=env.host,
        git_sha=env.git_sha,
        timestamp_utc=env.timestamp_utc,
    )


def _finish(
    template: AblationRecord, cost: _Cost, result: AccuracyResult, chance_loss: float | None = None
) -> AblationRecord:
    from datetime import datetime, timezone

    verdict = (
        judge(result.final_loss, result.curve_top1, template.num_classes, chance_loss)
        if result.status == "ok"
        else None
    )
    return dataclasses.replace(
        template,
        params=cost.params,
        attn_params=cost.attn_params,
        macs=cost.macs,
        elementwise_ops=cost.elementwise_ops,
        top1=result.top1,
        top5=result.top5,
        miou=result.miou,
        test_loss=result.test_loss,
        final_loss=result.final_loss,
        converged=verdict.converged if verdict else None,
        final_loss_ratio=verdict.final_loss_ratio if verdict else None,
        curve_slope_pp_per_epoch=verdict.curve_slope_pp_per_epoch if verdict else None,
        train_seconds=result.train_seconds,
        throughput_ips=result.throughput_ips,
        epochs_done=result.epochs_done,
        curve_top1=" ".join(repr(v) for v in result.curve_top1),
        status=result.status,
        error=result.error,
        timestamp_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
