"""The ``attnbench ablate`` command: build an ``AblationSpec``, run the sweep, show progress and the summary.

Its progress bars and summary table are drawn by ``render`` (progress on stderr, the table on stdout). Under
``torchrun`` only rank 0 draws, prints and writes the CSV.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ..errors import UsageError, rows_failed
from . import render
from .options import PluginsOpt, load_plugins, split_names

# What each option falls back to: the spec's default, then the presets' values where they differ. The help shows
# them; tests/test_ablate.py checks them against AblationSpec and PRESETS (importing those here would load torch
# for every `attnbench --help`).
DEFAULTS_SHOWN = {
    "modules": "none,se,cbam,ca; quick none,se,ca, ca-table1 none,se,ca_x,ca_y,ca, ca-dense none,ca_x,ca_y,ca",
    "backbone": "mbv2",
    "width": "0.5; quick 0.35, paper 1.0, ca-table1 0.35, ca-dense 0.35",
    "data": "synthetic; ca-table1 synthetic:labels=shape-row-col,grid=4,shapes=6,distractors=8, ca-dense dense:cue=row",
    "input": "32, imagefolder 224; quick 24, paper 224, ca-table1 48, ca-dense 64; a --data size= sets it",
    "epochs": "15; quick 3, paper 200, ca-table1 20, ca-dense 30",
    "seeds": "3; quick 1, paper 1, ca-table1 20, ca-dense 6",
    "batch": "64; paper 256",
    "lr": "0.05; ca-table1 0.02, ca-dense 0.1",
    "wd": "0.0005; paper 4e-05",
    "warmup_epochs": "1.0; quick 0.5, paper 0.0",
    "label_smoothing": "0.0",
    "threads": "torch's",
    "train_samples": "4000; quick 2000, ca-dense 2000",
    "test_samples": "1000; ca-table1 20000, ca-dense 500",
    "holdout_fraction": "0.2",
    "val_fraction": "0.0",
    "primary": "none; ca-table1 ca-se,ca-ca_x,ca-ca_y, ca-dense ca_x-ca_y,ca-none",
    "workers": "0",
    "preset": "none: the defaults",
    "reduction": "each module's own; ca-table1 se=24,ca_x=24,ca_y=24,ca=32, ca-dense ca_x=24,ca_y=24,ca=32",
    "augment": "by data: none synthetic, crop CIFAR, imagenet image folders",
    "small_input": "auto: --input ≤ 64; ca-table1 off",
    "contrasts": "each module-none, plus ca-se; ca-table1 ca-se,ca-ca_x,ca-ca_y,ca_x-ca_y,se-none,ca-none, ca-dense "
    "ca_x-ca_y,ca-none,ca-ca_x,ca-ca_y,ca_x-none,ca_y-none",
    "curve_samples": "2000; ca-table1 1000, ca-dense 500",
    "head": "none; dense tasks lraspp",
    "output_stride": "the head's, 16",
}


def _opt(*decls: str, help: str, key: str) -> Any:
    return typer.Option(*decls, help=help, show_default=DEFAULTS_SHOWN[key])


AblateCsvOpt = Annotated[
    Path | None,
    typer.Option(
        "--csv",
        help="Append one row per run to this CSV (header checked, never overwritten); the runs' "
        "test predictions go to <stem>-predictions/ beside it.",
        show_default="none: rows not kept",
    ),
]
AblateQuietOpt = Annotated[
    bool, typer.Option("--quiet/--progress", "-q", help="No progress output on stderr.", show_default="--progress")
]

AblateModulesOpt = Annotated[
    str | None,
    _opt(
        "--modules",
        "-m",
        help="Modules to compare, comma-separated; the baseline 'none' is always added.",
        key="modules",
    ),
]
AblateBackboneOpt = Annotated[
    str | None, _opt("--backbone", "-b", help="Backbone: mbv2, mnext, r18, r50.", key="backbone")
]
AblateWidthOpt = Annotated[float | None, _opt("--width", help="Channel width multiplier.", key="width")]
DataOpt = Annotated[
    list[str] | None,
    _opt(
        "--data",
        help="synthetic, synthetic-shape, synthetic:labels=shape|shape-row|shape-col|shape-row-col|all,"
        "grid=4,size=96,shapes=4,distractors=3,seed=0, dense:cue=row|col|near,grid=4,size=64,shapes=4,cues=3,"
        "distractors=3,seed=0 (per-pixel, scored by mean IoU), cifar10:PATH, cifar100:PATH or imagefolder:PATH; "
        "repeat for several tasks.",
        key="data",
    ),
]
AblateInputOpt = Annotated[
    int | None, _opt("--input", help="Image size in px; ≤ 64 uses small-input backbones.", key="input")
]
EpochsOpt = Annotated[int | None, _opt("--epochs", help="Training epochs per run.", key="epochs")]
SeedsOpt = Annotated[
    str | None, _opt("--seeds", help="How many seeds: 3 runs seeds 0, 1, 2 (see --seed-list).", key="seeds")
]
SeedListOpt = Annotated[
    str | None,
    typer.Option("--seed-list", help="The seeds to run, comma-separated: 5, or 0,5,7.", show_default="0..--seeds-1"),
]
AblateBatchOpt = Annotated[
    int | None, _opt("--batch", help="Global batch size (split over torchrun processes).", key="batch")
]
LrOpt = Annotated[float | None, _opt("--lr", help="Peak learning rate (cosine schedule to 0).", key="lr")]
WdOpt = Annotated[float | None, _opt("--wd", help="Weight decay on conv/linear weights.", key="wd")]
AblateWarmupOpt = Annotated[
    float | None, _opt("--warmup-epochs", help="Linear learning-rate warm-up, in epochs.", key="warmup_epochs")
]
SmoothingOpt = Annotated[
    float | None, _opt("--label-smoothing", help="Cross-entropy label smoothing.", key="label_smoothing")
]
PresetOpt = Annotated[
    str | None,
    _opt(
        "--preset",
        help="quick (CI size, synthetic), paper (the CA paper's ImageNet recipe), ca-table1 (the CA "
        "paper's Table 1 ablation, parameter-matched, on the synthetic task family) or ca-dense (X, Y and CA "
        "attention under LR-ASPP on the dense row-cue task).",
        key="preset",
    ),
]
AblateReductionOpt = Annotated[
    str | None,
    _opt("--reduction", help="Reduction ratio per module, e.g. se=24,ca_x=24.", key="reduction"),
]
AugmentOpt = Annotated[
    str | None, _opt("--augment", help="Training augmentation: none, flip, crop or imagenet.", key="augment")
]
AblateSmallInputOpt = Annotated[
    bool | None,
    _opt(
        "--small-input/--full-stride", help="Backbone stride 8 (small_input) or the full stride 32.", key="small_input"
    ),
]
ContrastsOpt = Annotated[
    str | None,
    _opt(
        "--contrasts",
        help="Module differences to test, a-b comma-separated, e.g. ca-se,ca-ca_x,ca_x-ca_y.",
        key="contrasts",
    ),
]
CurveOpt = Annotated[
    int | None,
    _opt(
        "--curve-samples",
        help="Test images evaluated after every epoch for the learning curve (0: none).",
        key="curve_samples",
    ),
]
LauncherOpt = Annotated[
    str,
    typer.Option(
        "--launcher",
        help="local (here), torchrun (DDP inside each run; start with torchrun) or slurm (one submitit job per run).",
    ),
]
SyncBnOpt = Annotated[
    bool, typer.Option("--sync-bn/--no-sync-bn", help="Under torchrun: BatchNorm statistics over the global batch.")
]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--submitit-cluster",
        help="slurm launcher: submitit's cluster; local runs the jobs here.",
        show_default="auto (Slurm)",
    ),
]
PartitionOpt = Annotated[
    str | None,
    typer.Option("--slurm-partition", help="slurm launcher: the partition.", show_default="the cluster's default"),
]
SlurmMinutesOpt = Annotated[int, typer.Option("--slurm-minutes", help="slurm launcher: time limit of each job.")]
JobFolderOpt = Annotated[
    Path | None,
    typer.Option(
        "--job-folder",
        help="slurm launcher: submitit's job files and logs.",
        show_default="<csv stem>-jobs beside --csv",
    ),
]
ReportOnlyOpt = Annotated[
    bool,
    typer.Option("--report-only/--train", help="Train nothing: summarise the runs of this plan --csv already holds."),
]
AblateFormatOpt = Annotated[
    Literal["table", "json"],
    typer.Option("--format", help="Summary on stdout: table (rich) or json (raw numbers, pp for contrasts)."),
]
ResumeOpt = Annotated[
    bool,
    typer.Option("--resume/--no-resume", help="Skip runs the --csv file already holds (same config and seed)."),
]
AblateDeviceOpt = Annotated[
    str, typer.Option("--device", help="cpu, cuda or cuda:N (cuda under torchrun). Never falls back.")
]
AblateThreadsOpt = Annotated[int | None, _opt("--threads", help="CPU intra-op threads (recorded).", key="threads")]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint-dir",
        help="Save each run after every epoch; continue from it when present.",
        show_default="none: no checkpoints",
    ),
]
TrainSamplesOpt = Annotated[
    int | None, _opt("--train-samples", help="Synthetic tasks: training images.", key="train_samples")
]
TestSamplesOpt = Annotated[int | None, _opt("--test-samples", help="Synthetic tasks: test images.", key="test_samples")]
HoldoutOpt = Annotated[
    float | None,
    _opt(
        "--holdout-fraction",
        help="imagefolder without train/ and val/: share per class held out as the test split.",
        key="holdout_fraction",
    ),
]
ValFractionOpt = Annotated[
    float | None,
    _opt(
        "--val-fraction",
        help="Hold out this share of every class of the training split as a validation split, "
        "train on the rest and report every accuracy on it (the test split stays unseen while tuning).",
        key="val_fraction",
    ),
]
PrimaryOpt = Annotated[
    str | None,
    _opt(
        "--primary",
        help="Pre-registered contrasts a-b, reported first with Holm over them alone; the others are exploratory.",
        key="primary",
    ),
]
DataCacheOpt = Annotated[
    bool,
    typer.Option(
        "--data-cache/--no-data-cache",
        help="Image folders: decode every image once into a memory-mapped "
        "file under --data-cache-dir, reused by every later run and seed (rebuilt when the folder changes).",
    ),
]
DataCacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-cache-dir",
        help="Where the decoded image folders are kept.",
        show_default="$XDG_CACHE_HOME/attnbench, else ~/.cache/attnbench",
    ),
]
AmpOpt = Annotated[
    str,
    typer.Option(
        "--amp", help="Mixed precision: none, bf16 (autocast, CPU or CUDA) or fp16 (autocast + gradient scaler, CUDA)."
    ),
]
AblateCompileOpt = Annotated[
    bool, typer.Option("--compile/--no-compile", help="Train and evaluate through torch.compile.")
]
AblateHeadOpt = Annotated[
    str | None, _opt("--head", help="Dense tasks: the segmentation head trained, deeplabv3 or lraspp.", key="head")
]
AblateStrideOpt = Annotated[
    int | None, _opt("--output-stride", help="Dense tasks: the head's output stride, 16 or 8.", key="output_stride")
]
WorkersOpt = Annotated[int | None, _opt("--workers", help="DataLoader workers for large image folders.", key="workers")]


def parse_seeds(text: str | None, seed_list: str | None = None) -> int | tuple[int, ...] | None:
    """``--seeds "3"`` → 3 (seeds 0, 1, 2); ``--seed-list "5"`` → (5,), ``"0,5"`` → (0, 5); neither → ``None``.

    ``--seeds`` also still takes a comma-separated list (``"0,5"``, ``"4,"``), as it did before ``--seed-list``.
    """
    if text is not None and seed_list is not None:
        raise UsageError("give --seeds (how many) or --seed-list (which), not both.")
    if seed_list is not None:
        values = _ints(seed_list, "--seed-list", "comma-separated seeds, e.g. 5 or 0,5,7")
        return values
    if text is None:
        return None
    values = _ints(text, "--seeds", "a count (3), or use --seed-list 0,5,7")
    return values[0] if len(values) == 1 and "," not in text else values


def _ints(text: str, option: str, want: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in split_names(text))
    except ValueError:
        raise UsageError(f"{option} '{text}' must be {want}.") from None
    if not values:
        raise UsageError(f"{option} is empty; it must be {want}.")
    return values


def parse_reductions(text: str | None) -> tuple[tuple[str, int], ...] | None:
    """``"se=24,ca_x=24"`` → ``(("se", 24), ("ca_x", 24))``; ``None`` → ``None``."""
    if text is None:
        return None
    out: dict[str, int] = {}
    for part in split_names(text):
        name, eq, value = (x.strip() for x in part.partition("="))
        try:
            if not eq or not name:
                raise ValueError
            out[name] = int(value)
        except ValueError:
            raise UsageError(
                f"--reduction '{text}': '{part}' must be MODULE=R, e.g. --reduction se=24,ca_x=24."
            ) from None
    if not out:
        raise UsageError("--reduction is empty; give MODULE=R pairs, e.g. --reduction se=24,ca_x=24.")
    return tuple(out.items())


def parse_contrasts(text: str | None, option: str = "--contrasts") -> tuple[tuple[str, str], ...] | None:
    """``"ca-se,ca_x-ca_y"`` → ``(("ca", "se"), ("ca_x", "ca_y"))``; ``None`` → ``None``."""
    if text is None:
        return None
    out = []
    for part in split_names(text):
        a, dash, b = (x.strip() for x in part.partition("-"))
        if not dash or not a or not b or "-" in b:
            raise UsageError(f"{option} '{text}': '{part}' must be A-B with two module names, e.g. ca-se.")
        out.append((a, b))
    if not out:
        raise UsageError(f"{option} is empty; give A-B pairs, e.g. {option} ca-se,ca-ca_x.")
    return tuple(dict.fromkeys(out))


def cache_folder(given: Path | None) -> Path:
    """``--data-cache-dir``, or the user's cache folder (``$XDG_CACHE_HOME/attnbench``, else ``~/.cache/attnbench``)."""
    if given is not None:
        return given.expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "attnbench"


def _dist_from_env() -> tuple[int, int, int]:
    """Rank, world size and local rank that torchrun exports (0, 1, 0 outside torchrun)."""
    env = os.environ
    return int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0"))


def ablate_cmd(
    modules_: AblateModulesOpt = None,
    backbone: AblateBackboneOpt = None,
    width: AblateWidthOpt = None,
    data: DataOpt = None,
    input: AblateInputOpt = None,
    epochs: EpochsOpt = None,
    seeds: SeedsOpt = None,
    seed_list: SeedListOpt = None,
    batch: AblateBatchOpt = None,
    lr: LrOpt = None,
    wd: WdOpt = None,
    warmup_epochs: AblateWarmupOpt = None,
    label_smoothing: SmoothingOpt = None,
    preset: PresetOpt = None,
    csv: AblateCsvOpt = None,
    resume: ResumeOpt = False,
    quiet: AblateQuietOpt = False,
    device: AblateDeviceOpt = "cpu",
    threads: AblateThreadsOpt = None,
    plugins: PluginsOpt = None,
    checkpoint_dir: CheckpointOpt = None,
    train_samples: TrainSamplesOpt = None,
    test_samples: TestSamplesOpt = None,
    holdout_fraction: HoldoutOpt = None,
    val_fraction: ValFractionOpt = None,
    workers: WorkersOpt = None,
    reduction: AblateReductionOpt = None,
    augment: AugmentOpt = None,
    small_input: AblateSmallInputOpt = None,
    contrasts: ContrastsOpt = None,
    primary: PrimaryOpt = None,
    curve_samples: CurveOpt = None,
    amp: AmpOpt = "none",
    compile: AblateCompileOpt = False,
    data_cache: DataCacheOpt = True,
    data_cache_dir: DataCacheDirOpt = None,
    launcher: LauncherOpt = "local",
    sync_bn: SyncBnOpt = False,
    submitit_cluster: ClusterOpt = None,
    slurm_partition: PartitionOpt = None,
    slurm_minutes: SlurmMinutesOpt = 60,
    job_folder: JobFolderOpt = None,
    format: AblateFormatOpt = "table",
    report_only: ReportOnlyOpt = False,
    head: AblateHeadOpt = None,
    output_stride: AblateStrideOpt = None,
) -> None:
    """Train the backbone with each module and without, under one recipe and seeds; report top-1 beside the cost."""
    from ..ablation.run import run_ablation
    from ..ablation.spec import build_ablation_spec
    from ..ablation.train import init_distributed

    load_plugins(plugins)
    rank, world, local_rank = _dist_from_env()
    if launcher == "torchrun" and world <= 1:
        raise UsageError(
            "--launcher torchrun: start it with torchrun, e.g. torchrun --nproc-per-node 2 "
            "-m attnbench ablate ... --launcher torchrun."
        )
    if launcher != "torchrun" and world > 1:
        raise UsageError(f"started by torchrun with {world} processes; pass --launcher torchrun.")
    spec = build_ablation_spec(
        preset,
        modules=split_names(modules_) if modules_ else None,
        backbone=backbone,
        width=width,
        data=tuple(data) if data else None,
        input_size=input,
        epochs=epochs,
        seeds=parse_seeds(seeds, seed_list),
        batch=batch,
        lr=lr,
        weight_decay=wd,
        warmup_epochs=warmup_epochs,
        label_smoothing=label_smoothing,
        csv=csv,
        resume=resume,
        device=device,
        threads=threads,
        checkpoint_dir=checkpoint_dir,
        train_samples=train_samples,
        test_samples=test_samples,
        holdout_fraction=holdout_fraction,
        val_fraction=val_fraction,
        num_workers=workers,
        reductions=parse_reductions(reduction),
        augment=augment,
        small_input_mode=small_input,
        contrasts=parse_contrasts(contrasts),
        primary=parse_contrasts(primary, "--primary"),
        curve_samples=curve_samples,
        amp=amp,
        compile=compile,
        data_cache=cache_folder(data_cache_dir) if data_cache else None,
        launcher=launcher,
        sync_bn=sync_bn,
        submitit_cluster=submitit_cluster,
        slurm_partition=slurm_partition,
        slurm_minutes=slurm_minutes,
        job_folder=job_folder,
        report_only=report_only,
        head=head,
        output_stride=output_stride,
    )
    dist, run_device = init_distributed(spec.device, rank, world, local_rank, fewer="lower --nproc-per-node")
    try:
        with render.ablation_progress(quiet or report_only or not dist.is_main) as progress:
            result = run_ablation(spec, progress=progress, dist=dist, device=run_device)
    finally:
        if dist.active:
            import torch.distributed as torch_dist

            torch_dist.destroy_process_group()
    if not dist.is_main:
        return
    if format == "json":
        render.write_ablation_json(result, spec)
    else:
        render.show_ablation(result, spec)
    if report_only:
        render.info(
            f"{result.skipped} runs read from {csv}"
            + (f"; {result.missing} runs of this plan are not there (not trained)" if result.missing else "")
        )
    elif csv is not None and resume and result.skipped == len(result.records):
        render.info(f"nothing to train: all {result.skipped} runs are already in {csv}")
    elif csv is not None:
        render.info(
            f"{len(result.records) - result.skipped} rows appended to {csv}"
            + (f" ({result.skipped} runs already there, skipped)" if result.skipped else "")
        )
    failures = [(f"{r.module} seed {r.seed}", r.error) for r in result.records if r.status != "ok"]
    if failures:
        raise rows_failed(failures, len(result.records))
