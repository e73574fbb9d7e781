"""What an ablation trains: ``AblationSpec`` and its presets, built once at the CLI or API edge, validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import modules
from ..cost.spec import BASELINE, check_device, check_model, check_name, check_threads
from ..errors import UsageError, opt
from .data import DataRef, SyntheticOptions, check_augment, default_augment, expand_data, parse_data
from .train import TrainConfig

AMP = ("none", "bf16", "fp16")
"""``--amp``: no autocast, bfloat16 autocast (CPU and CUDA), float16 autocast with a gradient scaler (CUDA)."""

LAUNCHERS = ("local", "torchrun", "slurm")
"""``--launcher``: one process here; DDP inside each run under torchrun; one submitit job per run."""

CURVE_SAMPLES = 2000
"""Test images evaluated after every epoch for the learning curve (the final top-1 uses the whole test split)."""

SEGMENTATION_HEADS = ("deeplabv3", "lraspp")
"""Heads a dense task (``--data dense:...``) can train: per-pixel logits at the input's size."""

DENSE_HEAD = "lraspp"
"""The head a dense task trains without ``--head``: LR-ASPP, whose skip from output stride 8 draws shapes a few
pixels wide at the task's 64 px (DeepLabV3 at output stride 16 has one logit per grid cell there and, in the pilot
of the ``ca-dense`` preset, predicted background everywhere)."""

SMALL_INPUT_MAX = 64
"""Inputs of this many pixels or fewer use the backbones' ``small_input`` option (no early downsampling)."""


@dataclass(frozen=True)
class AblationSpec:
    """One ablation sweep. ``modules`` always starts with the baseline ``none`` (added when missing).

    Args:
        modules: attention modules to compare, baseline first.
        backbone: a registered backbone.
        width: channel width multiplier.
        input_size: training and test image size in pixels; ≤ 64 builds the backbone with ``small_input`` unless
            ``small_input_mode`` says otherwise.
        data: the tasks, each ``synthetic``, ``synthetic-shape``, ``synthetic:KEY=VALUE,...``, ``cifar10:PATH``,
            ``cifar100:PATH`` or ``imagefolder:PATH`` (canonical, ``labels=all`` expanded); one run per task,
            module and seed.
        epochs: training epochs per run.
        seeds: one run per seed and module.
        batch: global batch size.
        lr: peak learning rate.
        weight_decay: on conv/linear weights.
        momentum: SGD momentum.
        warmup_epochs: linear warm-up before the cosine schedule.
        label_smoothing: cross-entropy label smoothing.
        preset: the preset the defaults came from (recorded in the CSV), or ``""``.
        train_samples: synthetic tasks only: training images.
        test_samples: synthetic tasks only: test images.
        holdout_fraction: image folders without ``train/``/``val/``: share per class held out as the test split.
        val_fraction: share of every class of the training split held out as a validation split; the runs train on
            the rest and report accuracies on it (``eval_split`` ``val``), so the test split stays unseen while a
            recipe is tuned. 0: no validation split; accuracies come from the test split.
        data_cache: image folders: decode every image once into a memory-mapped file in this folder, reused by
            every later run and seed (``imagecache``); ``None``: decode in every run.
        amp: mixed precision for training and evaluation: ``none``, ``bf16`` or ``fp16`` (autocast; fp16 with a
            gradient scaler, CUDA only).
        compile: train and evaluate through ``torch.compile``.
        device: ``cpu`` or ``cuda[:N]``.
        threads: CPU intra-op threads (``None``: torch's default); recorded.
        num_workers: ``DataLoader`` workers for image folders too large to hold in memory.
        csv: append one row per finished run here.
        resume: skip the runs ``csv`` already holds (same configuration and seed).
        checkpoint_dir: save each run's training state after every epoch, and continue from it when present.
        small_input_mode: ``True``/``False`` forces the backbones' ``small_input`` (stride 8 instead of 32);
            ``None``: inputs of ``SMALL_INPUT_MAX`` px or fewer use it, except under a segmentation head.
        reductions: ``(module, r)`` pairs: the reduction ratio given to those modules (others keep their own).
        augment: training augmentation (``data.AUGMENTS``); ``None``: by data (``data.default_augment``).
        sync_bn: under DDP, synchronise BatchNorm statistics over the processes.
        launcher: ``local``, ``torchrun`` or ``slurm`` (``LAUNCHERS``).
        contrasts: ``(a, b)`` module pairs to test as ``a − b``; ``None``: every module against the baseline, plus
            ``ca − se`` when both are present.
        primary: the pre-registered contrasts, reported first with Holm's correction over them alone; the other
            contrasts are exploratory (their own Holm family). Each must be among ``contrasts`` (it is added when
            ``contrasts`` is not given).
        curve_samples: test images evaluated after every epoch for the learning curve (0: none).
        submitit_cluster: ``slurm`` launcher: submitit's cluster (``None``: auto, i.e. Slurm; ``local``: jobs run as
            processes of this machine, through the same pickling and job path).
        slurm_partition: ``slurm`` launcher: the partition (``None``: the cluster's default).
        slurm_minutes: ``slurm`` launcher: the time limit of each job.
        job_folder: ``slurm`` launcher: where submitit keeps jobs' pickles and logs (``None``: beside the CSV).
        report_only: train nothing: summarise the runs of this plan that ``csv`` already holds (the others are
            counted as missing).
        head: the segmentation head a dense task (``dense:...``) trains on the backbone (``SEGMENTATION_HEADS``);
            ``None`` for classification (``build_ablation_spec`` gives dense tasks ``DENSE_HEAD``).
        output_stride: the head's output stride (16 or 8; ``None``: the head's own, 16).
    """

    modules: tuple[str, ...]
    backbone: str = "mbv2"
    width: float = 0.5
    input_size: int = 32
    data: tuple[str, ...] = ("synthetic",)
    epochs: int = 15
    seeds: tuple[int, ...] = (0, 1, 2)
    # Default recipe: lr 0.1 without warm-up left some SE/CA runs on the synthetic tasks stuck near chance (on this
    # machine, 6 epochs: 2 of 6 gated runs at 28-33 % on synthetic-shape); lr 0.05 with 1 warm-up epoch did not.
    batch: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    preset: str = ""
    train_samples: int = 4000
    test_samples: int = 1000
    holdout_fraction: float = 0.2
    val_fraction: float = 0.0
    data_cache: Path | None = None
    amp: str = "none"
    compile: bool = False
    device: str = "cpu"
    threads: int | None = None
    num_workers: int = 0
    csv: Path | None = None
    resume: bool = False
    checkpoint_dir: Path | None = None
    small_input_mode: bool | None = None
    reductions: tuple[tuple[str, int], ...] = ()
    augment: str | None = None
    sync_bn: bool = False
    launcher: str = "local"
    contrasts: tuple[tuple[str, str], ...] | None = None
    primary: tuple[tuple[str, str], ...] = ()
    curve_samples: int = CURVE_SAMPLES
    submitit_cluster: str | None = None
    slurm_partition: str | None = None
    slurm_minutes: int = 60
    job_folder: Path | None = None
    report_only: bool = False
    head: str | None = None
    output_stride: int | None = None

    @property
    def stride(self) -> int | None:
        """The head's output stride as built (``None`` without a head)."""
        if self.head is None:
            return None
        return self.output_stride or int(modules.HEADS.get(self.head).meta["output_strides"][0])

    @property
    def small_input(self) -> bool:
        if self.small_input_mode is not None:
            return self.small_input_mode
        return self.input_size <= SMALL_INPUT_MAX and self.head is None  # a segmentation head needs stride 32

    @property
    def data_refs(self) -> list[DataRef]:
        return [parse_data(d) for d in self.data]

    @property
    def data_ref(self) -> DataRef:
        """The first task."""
        return parse_data(self.data[0])

    def reduction(self, module: str) -> int | None:
        return dict(self.reductions).get(module)

    def augment_for(self, ref: DataRef) -> str:
        return self.augment or default_augment(ref)

    def contrast_pairs(self) -> tuple[tuple[str, str], ...]:
        """The contrasts to report, primary ones first: those given, or each module against the baseline plus
        ``ca − se``."""
        if self.contrasts is not None:
            pairs = list(self.contrasts)
        else:
            pairs = [(m, BASELINE) for m in self.modules[1:]]
            if "ca" in self.modules and "se" in self.modules:
                pairs.append(("ca", "se"))
        return tuple(dict.fromkeys([*self.primary, *pairs]))

    @property
    def synthetic(self) -> SyntheticOptions:
        return SyntheticOptions(size=self.input_size, train_samples=self.train_samples, test_samples=self.test_samples)

    def train_config(self, seed: int, device: str | None = None) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch=self.batch,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            warmup_epochs=self.warmup_epochs,
            label_smoothing=self.label_smoothing,
            seed=seed,
            device=device or self.device,
            num_workers=self.num_workers,
            sync_bn=self.sync_bn,
            curve_samples=self.curve_samples,
            amp=self.amp,
            compile=self.compile,
        )

    def validate(self) -> AblationSpec:
        """Check every field; raise a one-line ``UsageError`` (or ``DeviceUnavailableError``) naming the fix."""
        check_name(modules.BACKBONES, self.backbone)
        if not self.modules or self.modules[0] != BASELINE or len(set(self.modules)) != len(self.modules):
            raise UsageError("modules must start with the baseline 'none' and not repeat; use build_ablation_spec.")
        if len(self.modules) < 2:
            raise UsageError(
                f"no attention module to compare; pass {opt('modules')}, e.g. {opt('modules')} none,se,ca."
            )
        for name in self.modules:
            check_name(modules.ATTENTION, name)
        check_model(self.backbone, self.width, self.input_size, self.small_input, hint_small=False)
        if self.head is not None:
            from ..cost.spec import check_head

            check_head(
                self.backbone,
                self.head,
                self.output_stride,
                small_input=self.small_input,
            )
        refs = self.data_refs
        if not refs or len(set(self.data)) != len(self.data):
            raise UsageError(f"{opt('data')} {list(self.data)} must name at least one task, each once.")
        ref = refs[0]
        kinds = {r.dense for r in refs}
        if len(kinds) > 1:
            raise UsageError(
                f"{opt('data')} {list(self.data)} mixes dense and classification tasks; run them as two sweeps."
            )
        if ref.dense and self.head not in SEGMENTATION_HEADS:
            raise UsageError(
                f"{opt('data')} {ref} is a per-pixel task; give it a segmentation head: {opt('head')} "
                f"{' or '.join(SEGMENTATION_HEADS)}."
            )
        if not ref.dense and self.head is not None:
            raise UsageError(
                f"{opt('head')} {self.head} trains on the dense tasks only; drop it or use {opt('data')} dense:cue=row."
            )
        if self.output_stride is not None and self.head is None:
            raise UsageError(f"{opt('output_stride')} applies to a segmentation head; add {opt('data')} dense:cue=row.")
        if ref.dense and self.val_fraction > 0:
            raise UsageError(
                f"{opt('val_fraction')} splits classes, not label maps; tune the dense task on another data "
                f"seed instead ({opt('data')} dense:cue=row,seed=1)."
            )
        for r in refs:
            check_augment(r, self.augment_for(r))
            if r.size is not None and r.size != self.input_size:
                raise UsageError(
                    f"{opt('data')} {r} says size={r.size} but {opt('input_size')} is {self.input_size}; "
                    "give one of them."
                )
        if self.preset == "paper" and ref.kind.startswith("synthetic"):
            raise UsageError(
                f"{opt('preset')} paper is the CA paper's ImageNet recipe; pass {opt('data')} imagefolder:/path/to/imagenet."
            )
        if self.preset not in ("", *PRESETS):
            raise UsageError(f"{opt('preset')} '{self.preset}' is unknown; choose from: {', '.join(PRESETS)}.")
        for name, r in self.reductions:
            if name not in self.modules or name == BASELINE:
                raise UsageError(
                    f"{opt('reductions')} {name}={r}: '{name}' is not among the modules "
                    f"({', '.join(self.modules[1:])}); add it to {opt('modules')} or drop it."
                )
            if not 1 <= r <= 4096:
                raise UsageError(f"{opt('reductions')} {name}={r}: r must be between 1 and 4096.")
            if not modules.accepts_keyword(name, "reduction"):
                raise UsageError(
                    f"{opt('reductions')} {name}={r}: '{name}' has no reduction ratio; drop it from {opt('reductions')}."
                )
        for a, b in self.contrast_pairs():
            missing = [m for m in (a, b) if m not in self.modules]
            if missing or a == b:
                flag = opt("primary") if (a, b) in self.primary else opt("contrasts")
                raise UsageError(
                    f"{flag} {a}-{b}: each side must be a different module of {opt('modules')} "
                    f"({', '.join(self.modules)}); e.g. {flag} ca-se,ca-ca_x."
                )
        if self.launcher not in LAUNCHERS:
            raise UsageError(f"{opt('launcher')} '{self.launcher}' is unknown; choose from: {', '.join(LAUNCHERS)}.")
        if self.launcher == "slurm" and self.csv is None:
            raise UsageError(
                f"{opt('launcher')} slurm needs {opt('csv')} PATH: the driver appends each job's row there."
            )
        if not 0 <= self.curve_samples <= 10_000_000:
            raise UsageError(f"{opt('curve_samples')} must be between 0 and 10,000,000, got {self.curve_samples}.")
        if not 1 <= self.slurm_minutes <= 100_000:
            raise UsageError(f"{opt('slurm_minutes')} must be between 1 and 100000, got {self.slurm_minutes}.")
        ints = (
            ("epochs", self.epochs, 1, 100_000),
            ("batch", self.batch, 1, 65_536),
            ("num_workers", self.num_workers, 0, 256),
            ("train_samples", self.train_samples, 1, 10_000_000),
            ("test_samples", self.test_samples, 1, 10_000_000),
        )
        for field, value, low, top in ints:
            if not low <= value <= top:
                raise UsageError(f"{opt(field)} must be between {low} and {top}, got {value}.")
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise UsageError(f"{opt('threads')} must be between 1 and 1024, got {self.threads}.")
        if self.threads is not None:
            check_threads(self.threads)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(not 0 <= s < 2**31 for s in self.seeds):
            raise UsageError(
                f"seeds {self.seeds} must be distinct integers in 0..2^31-1; e.g. {opt('seeds')} 3 runs 0, 1, 2."
            )
        if not (math.isfinite(self.lr) and 0 < self.lr <= 100):
            raise UsageError(f"{opt('lr')} must be a positive number, got {self.lr}.")
        if not (math.isfinite(self.weight_decay) and 0 <= self.weight_decay < 1):
            raise UsageError(f"{opt('weight_decay')} must be in [0, 1), got {self.weight_decay}.")
        if not 0 <= self.momentum < 1:
            raise UsageError(f"momentum must be in [0, 1), got {self.momentum}.")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise UsageError(
                f"{opt('warmup_epochs')} must be between 0 and {opt('epochs')} ({self.epochs}), got {self.warmup_epochs}."
            )
        if not 0 <= self.label_smoothing < 1:
            raise UsageError(f"{opt('label_smoothing')} must be in [0, 1), got {self.label_smoothing}.")
        if not 0 < self.holdout_fraction < 1:
            raise UsageError(
                f"{opt('holdout_fraction')} must be between 0 and 1 (exclusive), got {self.holdout_fraction}."
            )
        if not 0 <= self.val_fraction < 1:
            raise UsageError(
                f"{opt('val_fraction')} must be in [0, 1) (0: no validation split), got {self.val_fraction}."
            )
        if self.amp not in AMP:
            raise UsageError(f"{opt('amp')} '{self.amp}' is unknown; choose from: {', '.join(AMP)}.")
        if self.amp == "fp16" and not self.device.startswith("cuda"):
            raise UsageError(
                f"{opt('amp')} fp16 needs {opt('device')} cuda (float16 autocast with a gradient scaler); "
                f"on the CPU use {opt('amp')} bf16."
            )
        from .data import synthetic_options_for

        for r in refs:
            if r.synthetic:
                synthetic_options_for(r, self.input_size, self.synthetic).validate()
        if self.report_only and self.csv is None:
            raise UsageError(f"{opt('report_only')} needs {opt('csv')} PATH: the runs are read from that file.")
        if self.resume and self.csv is None:
            raise UsageError(f"{opt('resume')} needs {opt('csv')} PATH: finished runs are read from that file.")
        if self.checkpoint_dir is not None:
            from ..io.csvfile import check_folder

            check_folder(self.checkpoint_dir, opt("checkpoint_dir"))
        check_device(self.device)
        return self


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "modules": ("none", "se", "ca"),
        "backbone": "mbv2",
        "width": 0.35,
        "input_size": 24,
        "data": "synthetic",
        "epochs": 3,
        "seeds": (0,),
        "batch": 64,
        "lr": 0.05,
        "weight_decay": 5e-4,
        "momentum": 0.9,
        "warmup_epochs": 0.5,
        "label_smoothing": 0.0,
        "train_samples": 2000,
        "test_samples": 1000,
    },
    # The CA paper's ImageNet setting (attnbench/papers/README.md, "The CA paper's training setting"): 200 epochs
    # and cosine are confirmed by the authors' README; SGD momentum 0.9, weight decay 4e-5, lr 0.05 and batch 256
    # are recalled (they match the setting reported for the MobileNeXt paper).
    "paper": {
        "modules": ("none", "se", "cbam", "ca"),
        "backbone": "mbv2",
        "width": 1.0,
        "input_size": 224,
        "epochs": 200,
        "seeds": (0,),
        "batch": 256,
        "lr": 0.05,
        "weight_decay": 4e-5,
        "momentum": 0.9,
        "warmup_epochs": 0.0,
        "label_smoothing": 0.0,
    },
    # The CA paper's Table 1 ablation, parameter-matched as `attnbench table ca-table1` builds it (SE, X and Y
    # attention at r = 24, CA at r = 32), on the synthetic task family sized for a CPU: 48 px through the stride-32
    # backbone (a 2×2 last feature map, so position must be carried in the channels), a 4×4 grid, six shapes and
    # eight distractor lines (96 classes for shape × row × column), a 20,000-image test set. The task came from a
    # first pilot (results/README.md): four shapes and three distractors saturate (none 97.7 % at 12 epochs); with six
    # and eight, 20 epochs let the baseline converge. The primary task is shape × row × column; --data
    # synthetic:labels=all,... runs the whole family. The learning rate came from a tuning pilot on data seed 1,
    # which the main run never evaluates (results/ablation/pilot-lr/): at lr 0.05 a third of the gated and control
    # runs stalled; at 0.02 all 10 runs (five modules, two seeds) converged; at 0.01 the SE run of seed 0 did not,
    # and the baseline's loss ended 2.3 times higher than at 0.02. Seeds: 20 by default; the committed run
    # (results/ablation/ca-table1-paired.csv) stopped at 10, where the paired MDE of ca - se was about 6 pp; a blinded
    # look at its seed spread puts an MDE of 1.5 pp near 120 seeds on this task. A second pilot with 12,000 training
    # images for 6 epochs (about the same compute; results/ablation/pilot-data/) converged in none of its 10 runs.
    "ca-table1": {
        "modules": ("none", "se", "ca_x", "ca_y", "ca"),
        "backbone": "mbv2",
        "width": 0.35,
        "input_size": 48,
        "small_input_mode": False,
        "data": ("synthetic:labels=shape-row-col,grid=4,shapes=6,distractors=8",),
        "epochs": 20,
        "seeds": tuple(range(20)),
        "batch": 64,
        "lr": 0.02,
        "weight_decay": 5e-4,
        "momentum": 0.9,
        "warmup_epochs": 1.0,
        "label_smoothing": 0.0,
        "train_samples": 4000,
        "test_samples": 20000,
        "curve_samples": 1000,
        "reductions": (("se", 24), ("ca_x", 24), ("ca_y", 24), ("ca", 32)),
        "contrasts": (("ca", "se"), ("ca", "ca_x"), ("ca", "ca_y"), ("ca_x", "ca_y"), ("se", "none"), ("ca", "none")),
        "primary": (("ca", "se"), ("ca", "ca_x"), ("ca", "ca_y")),
    },
    # The dense task (ablation/dense.py) as a first test of the CA paper's segmentation claim: the row-cue label map,
    # where a per-row pooled gate (ca_x) can carry the cue's colour to the shape's pixels and a per-column one (ca_y)
    # cannot. LR-ASPP, not DeepLabV3: a pilot on data seed 1 (results/ablation/dense-pilot/) found DeepLabV3 at output
    # stride 16 predicting background everywhere (its 4 × 4 map is one value per grid cell at 64 px) and stride 8
    # costing 2.4 times LR-ASPP's step; LR-ASPP reached 34 % mIoU at lr 0.05 and 20 epochs, 54 % at lr 0.1 and 30.
    # Sized to run in about an hour on a 2-core CPU with one process per core.
    "ca-dense": {
        "modules": ("none", "ca_x", "ca_y", "ca"),
        "backbone": "mbv2",
        "width": 0.35,
        "input_size": 64,
        "data": ("dense:cue=row",),
        "head": "lraspp",
        "epochs": 30,
        "seeds": tuple(range(6)),
        "batch": 64,
        "lr": 0.1,
        "weight_decay": 5e-4,
        "momentum": 0.9,
        "warmup_epochs": 1.0,
        "label_smoothing": 0.0,
        "train_samples": 2000,
        "test_samples": 500,
        "curve_samples": 500,
        "reductions": (("ca_x", 24), ("ca_y", 24), ("ca", 32)),
        "contrasts": (
            ("ca_x", "ca_y"),
            ("ca", "none"),
            ("ca", "ca_x"),
            ("ca", "ca_y"),
            ("ca_x", "none"),
            ("ca_y", "none"),
        ),
        "primary": (("ca_x", "ca_y"), ("ca", "none")),
    },
}
"""Named recipes; explicit options override their values."""

DEFAULTS: dict[str, Any] = {"modules": ("none", "se", "cbam", "ca")}


def build_ablation_spec(preset: str | None = None, **given: Any) -> AblationSpec:
    """A validated ``AblationSpec`` from a preset (or the defaults) with the non-``None`` options in ``given``.

    ``modules`` may be any iterable of names; ``"none"`` is moved or added to the front. ``seeds`` may be an int
    (that many seeds, 0..n-1) or an iterable of seeds. Without ``input_size``, image folders default to 224 px and
    the rest to 32 px (presets set their own).
    """
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"{opt('preset')} '{preset}' is unknown; choose from: {', '.join(PRESETS)}.")
    fields = {**DEFAULTS, **(PRESETS[preset] if preset else {})}
    fields.update({k: v for k, v in given.items() if v is not None})
    data = fields.get("data", ("synthetic",))
    texts = [data] if isinstance(data, str) else list(data)
    refs = [r for t in texts for r in expand_data(str(t))]
    fields["data"] = tuple(dict.fromkeys(str(r) for r in refs))
    if given.get("input_size") is None:
        sizes = {r.size for r in refs if r.size is not None}
        if len(sizes) > 1:
            raise UsageError(
                f"{opt('data')} values give different sizes ({', '.join(map(str, sorted(sizes)))}); give one."
            )
        if sizes:
            fields["input_size"] = sizes.pop()
        elif "input_size" not in fields:
            fields["input_size"] = 224 if any(r.kind == "imagefolder" for r in refs) else 32
    if any(r.dense for r in refs) and fields.get("head") is None:
        fields["head"] = DENSE_HEAD
    if "reductions" in fields and isinstance(fields["reductions"], dict):
        fields["reductions"] = tuple(fields["reductions"].items())
    names = [n for n in dict.fromkeys(fields["modules"]) if n != BASELINE]
    fields["modules"] = (BASELINE, *names)
    # A preset's reductions and contrasts follow the modules actually run (an explicit --modules may drop some).
    if given.get("reductions") is None and fields.get("reductions"):
        fields["reductions"] = tuple((m, r) for m, r in fields["reductions"] if m in names)
    if given.get("contrasts") is None and fields.get("contrasts") is not None:
        fields["contrasts"] = (
            tuple((a, b) for a, b in fields["contrasts"] if a in fields["modules"] and b in fields["modules"]) or None
        )
    if given.get("primary") is None and fields.get("primary"):
        fields["primary"] = tuple(
            (a, b) for a, b in fields["primary"] if a in fields["modules"] and b in fields["modules"]
        )
    seeds = fields.get("seeds", (0,))
    if isinstance(seeds, int):
        if not 1 <= seeds <= 1000:
            raise UsageError(f"{opt('seeds')} must be between 1 and 1000 (or a list such as 0,3,7), got {seeds}.")
        seeds = tuple(range(seeds))
    fields["seeds"] = tuple(int(s) for s in seeds)
    fields["preset"] = preset or ""
    return AblationSpec(**fields).validate()
