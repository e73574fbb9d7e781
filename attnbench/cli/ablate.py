"""The ``attnbench ablate`` command: build an ``AblationSpec``, run the sweep, show progress and the summary.

Its progress bars and summary table are drawn by ``render`` (progress on stderr, the table on stdout). Under
``torchrun`` only rank 0 draws, prints and writes the CSV.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError, rows_failed
from . import render
from .options import CsvOpt, PluginsOpt, QuietOpt, load_plugins, split_names

ModulesOpt = Annotated[
    str | None,
    typer.Option("--modules", "-m", help="Modules to compare, comma-separated; the baseline 'none' is always added."),
]
BackboneOpt = Annotated[str | None, typer.Option("--backbone", "-b", help="Backbone: mbv2, mnext, r18, r50.")]
WidthOpt = Annotated[float | None, typer.Option("--width", help="Channel width multiplier.")]
DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data", help="synthetic (default), synthetic-shape, cifar10:PATH, cifar100:PATH or imagefolder:PATH."
    ),
]
InputOpt = Annotated[
    int | None,
    typer.Option(
        "--input", help="Image size in px (default 32; 224 for imagefolder). ≤ 64 uses small-input backbones."
    ),
]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Training epochs per run.")]
SeedsOpt = Annotated[str | None, typer.Option("--seeds", help="Number of seeds (3 → 0,1,2) or a list (0,5,7).")]
BatchOpt = Annotated[int | None, typer.Option("--batch", help="Global batch size (split over torchrun processes).")]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Peak learning rate (cosine schedule to 0).")]
WdOpt = Annotated[float | None, typer.Option("--wd", help="Weight decay on conv/linear weights.")]
WarmupOpt = Annotated[float | None, typer.Option("--warmup-epochs", help="Linear learning-rate warm-up, in epochs.")]
SmoothingOpt = Annotated[float | None, typer.Option("--label-smoothing", help="Cross-entropy label smoothing.")]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", help="quick (CI size, synthetic) or paper (the CA paper's ImageNet recipe).")
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Skip runs the --csv file already holds (same config and seed).")
]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="cpu, cuda or cuda:N (cuda under torchrun). Never falls back.")
]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU intra-op threads (default: torch's; recorded).")]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint-dir", help="Save each run after every epoch; continue from it when present."),
]
TrainSamplesOpt = Annotated[int | None, typer.Option("--train-samples", help="Synthetic tasks: training images.")]
TestSamplesOpt = Annotated[int | None, typer.Option("--test-samples", help="Synthetic tasks: test images.")]
ValFractionOpt = Annotated[
    float | None, typer.Option("--val-fraction", help="imagefolder without train/ and val/: held-out share per class.")
]
WorkersOpt = Annotated[int | None, typer.Option("--workers", help="DataLoader workers for large image folders.")]


def parse_seeds(text: str | None) -> int | tuple[int, ...] | None:
    """``"3"`` → 3 (seeds 0, 1, 2); ``"0,5"`` → (0, 5); ``None`` stays ``None``."""
    if text is None:
        return None
    parts = split_names(text)
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--seeds '{text}' must be a count (3) or comma-separated seeds (0,5,7).") from None
    if not values:
        raise UsageError("--seeds is empty; give a count (3) or seeds (0,5,7).")
    return values[0] if len(values) == 1 and "," not in text else values


def _dist_from_env() -> tuple[int, int, int]:
    """Rank, world size and local rank that torchrun exports (0, 1, 0 outside torchrun)."""
    env = os.environ
    return int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0"))


def ablate_cmd(
    modules_: ModulesOpt = None,
    backbone: BackboneOpt = None,
    width: WidthOpt = None,
    data: DataOpt = None,
    input: InputOpt = None,
    epochs: EpochsOpt = None,
    seeds: SeedsOpt = None,
    batch: BatchOpt = None,
    lr: LrOpt = None,
    wd: WdOpt = None,
    warmup_epochs: WarmupOpt = None,
    label_smoothing: SmoothingOpt = None,
    preset: PresetOpt = None,
    csv: CsvOpt = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    plugins: PluginsOpt = None,
    checkpoint_dir: CheckpointOpt = None,
    train_samples: TrainSamplesOpt = None,
    test_samples: TestSamplesOpt = None,
    val_fraction: ValFractionOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Train the backbone with each module and without, under one recipe and seeds; report top-1 beside the cost."""
    from ..ablation.run import run_ablation
    from ..ablation.spec import build_ablation_spec
    from ..ablation.train import init_distributed

    load_plugins(plugins)
    spec = build_ablation_spec(
        preset, modules=split_names(modules_) if modules_ else None, backbone=backbone, width=width, data=data,
        input_size=input, epochs=epochs, seeds=parse_seeds(seeds), batch=batch, lr=lr, weight_decay=wd,
        warmup_epochs=warmup_epochs, label_smoothing=label_smoothing, csv=csv, resume=resume, device=device,
        threads=threads, checkpoint_dir=checkpoint_dir, train_samples=train_samples, test_samples=test_samples,
        val_fraction=val_fraction, num_workers=workers,
    )  # fmt: skip
    dist, run_device = init_distributed(spec.device, *_dist_from_env())
    try:
        with render.ablation_progress(quiet or not dist.is_main) as progress:
            result = run_ablation(spec, progress=progress, dist=dist, device=run_device)
    finally:
        if dist.active:
            import torch.distributed as torch_dist

            torch_dist.destroy_process_group()
    if not dist.is_main:
        return
    render.show_ablation(result, spec)
    if csv is not None and resume and result.skipped == len(result.records):
        render.info(f"nothing to train: all {result.skipped} runs are already in {csv}")
    elif csv is not None:
        render.info(f"{len(result.records) - result.skipped} rows appended to {csv}"
                    + (f" ({result.skipped} runs already there, skipped)" if result.skipped else ""))  # fmt: skip
    failures = [(f"{r.module} seed {r.seed}", r.error) for r in result.records if r.status != "ok"]
    if failures:
        raise rows_failed(failures, len(result.records))
