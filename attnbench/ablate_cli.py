"""The ``attnbench ablate`` command: build an ``AblationSpec``, run the sweep, show progress and the summary.

Registered in ``cli.py`` (at its end, after the shared option aliases this file imports)::

    from .ablate_cli import ablate_cmd; app.command("ablate")(ablate_cmd)

The progress bars and the summary table are drawn here with rich, through ``report``'s consoles: progress on
stderr, the table on stdout. Under ``torchrun`` only rank 0 draws, prints and writes the CSV.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import report
from .cli import CsvOpt, PluginsOpt, QuietOpt, load_plugins, split_names
from .errors import UsageError, rows_failed

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from .ablate import AblationEvent, AblationResult, AblationSpec

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
    from .ablate import build_ablation_spec, run_ablation
    from .train import init_distributed

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
        with sweep_progress(quiet or not dist.is_main) as progress:
            result = run_ablation(spec, progress=progress, dist=dist, device=run_device)
    finally:
        if dist.active:
            import torch.distributed as torch_dist

            torch_dist.destroy_process_group()
    if not dist.is_main:
        return
    show_ablation(result, spec)
    if csv is not None:
        report.info(f"{len(result.records) - result.skipped} rows appended to {csv}"
                    + (f" ({result.skipped} runs already there, skipped)" if result.skipped else ""))  # fmt: skip
    failures = [(f"{r.module} seed {r.seed}", r.error) for r in result.records if r.status != "ok"]
    if failures:
        raise rows_failed(failures, len(result.records))


# --------------------------------------------------------------------------------------------------------------------
# Presentation (rich): progress on stderr, the summary on stdout


class _ProgressSink:
    """Turns ``AblationEvent``s into two rich bars (sweep, current run) or, off a terminal, one line per run."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.progress: Any = None
        self.sweep: Any = None
        self.run: Any = None

    def __enter__(self) -> _ProgressSink:  # noqa: PYI034 - a private class, never subclassed
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=report.stderr, transient=True,
            )  # fmt: skip
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def __call__(self, ev: AblationEvent) -> None:
        label = f"{ev.module} seed {ev.seed}"
        if not self.live:
            if ev.kind == "done" and ev.record is not None:
                r = ev.record
                score = f"top-1 {100 * r.top1:.2f}%" if r.top1 is not None else f"failed: {r.error}"
                report.info(f"run {ev.index + 1}/{ev.total} {label}: {score} ({r.train_seconds:.1f} s training)")
            elif ev.kind == "skip":
                report.info(f"run {ev.index + 1}/{ev.total} {label}: already in the CSV, skipped")
            return
        p = self.progress
        if self.sweep is None:
            self.sweep = p.add_task("sweep", total=ev.total, info="")
        if ev.kind in ("skip", "done"):
            p.update(self.sweep, completed=ev.index + 1, info=f"{ev.index + 1}/{ev.total} runs")
            if self.run is not None:
                p.remove_task(self.run)
                self.run = None
            if ev.kind == "done" and ev.record is not None:
                r = ev.record
                score = f"top-1 {100 * r.top1:.2f}%" if r.top1 is not None else f"[red]failed[/red]: {r.error}"
                p.console.print(f"run {ev.index + 1}/{ev.total} {label}: {score} ({r.train_seconds:.1f} s training)")
        elif ev.kind == "start":
            p.update(self.sweep, info=f"{ev.index}/{ev.total} runs")
            self.run = p.add_task(label, total=None, info="building")
        elif ev.kind == "step" and ev.train is not None and self.run is not None:
            t = ev.train
            done = (t.epoch - 1) * t.steps + t.step
            info = (
                f"epoch {t.epoch}/{t.epochs}  step {t.step}/{t.steps}  loss {t.loss:.3f}  acc {100 * t.accuracy:.1f}%"
            )
            p.update(self.run, total=t.epochs * t.steps, completed=done, info=info)


class sweep_progress:
    """Context manager yielding the progress callback (``None`` when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.sink = None if quiet else _ProgressSink(live=report.stderr.is_terminal)

    def __enter__(self) -> Callable[[AblationEvent], None] | None:
        return self.sink.__enter__() if self.sink else None

    def __exit__(self, *exc: object) -> None:
        if self.sink:
            self.sink.__exit__(*exc)


def _pct(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}"


def summary_table(result: AblationResult, spec: AblationSpec) -> Table:
    """The summary as a rich table: cost, top-1 mean ± std over seeds, Δ and Welch p against the baseline."""
    from rich.table import Table

    seeds = ",".join(str(s) for s in spec.seeds)
    title = (
        f"{spec.backbone} ×{spec.width:g} on {result.data_name} ({result.num_classes} classes), {spec.input_size} px, "
        f"{spec.epochs} epochs, seeds {seeds}"
    )
    table = Table(title=title, title_justify="left")
    for col, just in (("module", "left"), ("params (M)", "right"), ("MACs (M)", "right"), ("runs", "right"),
                      ("top-1 % (mean ± std)", "right"), ("top-1 % per seed", "left"), ("Δ top-1 (pp)", "right"),
                      ("p (Welch)", "right")):  # fmt: skip
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    has_top5 = any(s.top5_mean is not None for s in result.summary)
    if has_top5:
        table.add_column("top-5 %", justify="right")
    for s in result.summary:
        mean = _pct(s.top1_mean) + ("" if s.top1_std is None else f" ± {100 * s.top1_std:.2f}")
        delta = "–" if s.d_top1 is None else f"{100 * s.d_top1:+.2f}"
        p = "–" if s.p_value is None else (f"{s.p_value:.3f}" if s.p_value >= 0.001 else f"{s.p_value:.1e}")
        row = [
            s.module, report.millions(s.params), report.millions(s.macs, 2), f"{s.ok}/{s.runs}", mean,
            " ".join(_pct(v, 1) for v in s.top1) or "–", delta, p,
        ]  # fmt: skip
        if has_top5:
            row.append(_pct(s.top5_mean))
        table.add_row(*row)
    return table


def show_ablation(result: AblationResult, spec: AblationSpec, console: Console | None = None) -> None:
    """Print the summary table (stdout by default) and a one-line note on how to read it."""
    console = console or report.stdout
    console.print(summary_table(result, spec))
    console.print(
        "Δ: mean top-1 minus the baseline's, in percentage points. p: Welch's two-sided t-test against the baseline "
        "over seeds (– with fewer than 2 successful seeds on either side).",
        style="dim", soft_wrap=True,
    )  # fmt: skip
