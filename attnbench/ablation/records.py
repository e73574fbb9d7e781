"""Ablation rows: one ``AblationRecord`` per (module, seed) run, its CSV columns, and the resume key."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ResultsFileError, opt
from .convergence import judge


@dataclass(frozen=True)
class AblationRecord:
    """One (module, seed) training run. Accuracies are fractions in [0, 1]; counts raw; times in seconds."""

    backbone: str
    module: str
    width: float
    input_size: int
    small_input: bool
    head: str
    """The segmentation head a dense task trains (``deeplabv3``, ``lraspp``); empty: the classifier."""
    output_stride: int | None
    """The head's output stride (DeepLabV3: 16 or 8); empty otherwise."""
    data: str
    num_classes: int
    train_samples: int
    test_samples: int
    val_fraction: float
    """Share of the training split held out as a validation split (0: none)."""
    eval_split: str
    """Which split every accuracy of the row comes from: ``test``, or ``val`` (the held-out part of the training
    split) when ``val_fraction`` > 0."""
    epochs: int
    batch: int
    lr: float
    weight_decay: float
    momentum: float
    warmup_epochs: float
    label_smoothing: float
    amp: str
    """Mixed precision of the forward passes: none, bf16 or fp16 (autocast; fp16 with a gradient scaler)."""
    reduction: int | None
    """The module's reduction ratio r when given (``--reduction``, ``--preset ca-table1``); empty: its own default."""
    augment: str
    """Training augmentation: none, flip, crop or imagenet."""
    sync_bn: bool
    """BatchNorm statistics synchronised over distributed processes."""
    seed: int
    init: str
    """``shared``: the backbone's weights come from the seed alone, so every module of a seed starts from the same
    backbone and the attention modules draw from a stream of their own; ``global`` (rows written before): the whole
    model was drawn from one stream, so the backbone's weights differed between modules of a seed."""
    preset: str
    device: str
    threads: int
    world_size: int
    compile: bool
    """Trained through ``torch.compile``."""
    params: int | None
    attn_params: int | None
    macs: int | None
    """Multiply-accumulates of one forward pass at ``input_size`` (attnbench's convention, batch 1)."""
    elementwise_ops: int | None
    top1: float | None
    """Top-1 on the evaluated split; for a dense task, per pixel (pixel accuracy)."""
    top5: float | None
    miou: float | None
    """Dense tasks: mean IoU on the evaluated split, the run's score (``dense.mean_iou``); empty for classification."""
    test_loss: float | None
    final_loss: float | None
    """Mean training loss of the last epoch."""
    converged: bool | None
    """The run's convergence verdict (``convergence.judge``); empty for a failed run."""
    final_loss_ratio: float | None
    """``final_loss`` over the chance loss: ``ln(num_classes)`` (a uniform guess), or for a dense task the entropy of
    its per-pixel labels (the best constant guess); about 1 is no better than chance."""
    curve_slope_pp_per_epoch: float | None
    """Slope of the test curve over its last epochs, percentage points of the score per epoch."""
    train_seconds: float
    throughput_ips: float
    epochs_done: int
    curve_top1: str
    """The score (top-1, or mean IoU for a dense task; a fraction) on the first ``curve_samples`` test images after
    each epoch, space-separated, oldest first."""
    curve_samples: int
    predictions: str
    """The run's per-example test predictions (``.npy``, int16, test order), relative to the CSV's folder; empty
    without ``--csv``."""
    launcher: str
    """local, torchrun or slurm (not part of the resume key: a run is the same wherever it ran)."""
    status: str
    """ok or failed."""
    error: str
    torch_version: str
    cuda_version: str
    device_name: str
    cpu_name: str
    host: str
    git_sha: str
    timestamp_utc: str


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(AblationRecord))

RESULT_KEY: tuple[str, ...] = (
    "backbone",
    "module",
    "width",
    "input_size",
    "small_input",
    "head",
    "output_stride",
    "data",
    "num_classes",
    "train_samples",
    "test_samples",
    "val_fraction",
    "eval_split",
    "epochs",
    "batch",
    "lr",
    "weight_decay",
    "momentum",
    "warmup_epochs",
    "label_smoothing",
    "amp",
    "reduction",
    "augment",
    "sync_bn",
    "seed",
)
"""The columns that define what a run measures: its configuration, recipe and seed. ``--report-only`` matches the
runs of its plan on these (and prefers a row with ``init`` ``shared`` where a file has both)."""

RUN_KEY: tuple[str, ...] = (*RESULT_KEY, "init", "device", "threads", "world_size", "compile")
"""The columns that identify a run for ``--resume``: ``RESULT_KEY`` plus how and where it ran. The initialisation
scheme changes which weights a seed draws; device, threads, world size and compilation change what a row reports:
throughput and training time always, top-1 through floating-point order (threads, device, compiled kernels) and
per-process BatchNorm batches (world size). Only rows
with ``status=ok`` count as done (``launcher`` is not part of it, so ``--resume`` works across launchers): a failed
run is history, retried on resume, the retry appended after it."""

ADDED_COLUMNS: tuple[str, ...] = (
    "val_fraction",
    "eval_split",
    "amp",
    "init",
    "compile",
    "converged",
    "final_loss_ratio",
    "curve_slope_pp_per_epoch",
    "head",
    "output_stride",
    "miou",
)
"""Columns that files written by an older attnbench lack; such a file is read with ``legacy_defaults`` and, before
anything is appended to it, rewritten with today's header (``io.csvfile.upgrade_header``)."""


def legacy_defaults(row: dict[str, str]) -> dict[str, str]:
    """A row of an older file with today's columns: evaluated on the test split, no validation share, no mixed
    precision or compilation, the whole model drawn from one random stream (``init`` ``global``), a classifier
    (no head, no mean IoU); the convergence columns are left empty for ``read_records`` to compute from the row's
    loss and curve."""
    filled = {c: "" for c in ADDED_COLUMNS}
    filled.update(val_fraction="0.0", eval_split="test", amp="none", init="global", compile="False")
    return {**filled, **row}


_TYPES = {f.name: str(f.type) for f in dataclasses.fields(AblationRecord)}

_FRACTIONS = ("top1", "top5", "miou", "val_fraction")
_COUNTS = (
    "width",
    "input_size",
    "num_classes",
    "train_samples",
    "test_samples",
    "epochs",
    "batch",
    "seed",
    "threads",
    "world_size",
    "params",
    "attn_params",
    "macs",
    "elementwise_ops",
    "epochs_done",
    "curve_samples",
    "train_seconds",
    "throughput_ips",
    "lr",
    "weight_decay",
    "momentum",
    "warmup_epochs",
    "label_smoothing",
    "reduction",
    "test_loss",
    "output_stride",
)


def _parse(name: str, text: str) -> Any:
    kind = _TYPES[name]
    if kind.endswith("| None") and text == "":
        return None
    base = kind.split(" |")[0]
    if base == "int":
        return int(float(text))
    if base == "float":
        return float(text)
    if base == "bool":
        low = text.strip().lower()
        if low not in ("true", "1", "yes", "false", "0", "no"):
            raise ValueError(f"'{text}' is not true or false")
        return low in ("true", "1", "yes")
    return text


def _check(name: str, value: Any, ok: bool) -> None:
    """Range checks of one parsed value (``ok``: the run succeeded, so its accuracies must be there)."""
    if value is None:
        if ok and name in ("top1", "final_loss"):
            raise ValueError("is empty in a row with status ok")
        return
    if isinstance(value, float) and not math.isfinite(value) and name != "final_loss":
        raise ValueError(f"{value} is not a finite number")
    if name in _FRACTIONS and not 0.0 <= value <= 1.0:
        raise ValueError(f"{value} is outside 0..1 (a fraction of the test images)")
    if name in _COUNTS and value < 0:
        raise ValueError(f"{value} is negative")
    if name == "final_loss" and ok and not math.isfinite(value):
        raise ValueError(f"{value} is not finite in a row with status ok")
    if name == "status" and value not in ("ok", "failed"):
        raise ValueError(f"'{value}' is not ok or failed")


def _record(row: dict[str, str]) -> AblationRecord:
    ok = row.get("status") == "ok"
    values: dict[str, Any] = {}
    for c in COLUMNS:
        try:
            values[c] = _parse(c, row.get(c) or "")
            _check(c, values[c], ok)
        except ValueError as exc:
            raise _BadCell(c, str(exc)) from None
    if ok and values["head"] and values["miou"] is None:
        raise _BadCell("miou", "is empty in a dense row with status ok")
    try:
        curve = [float(v) for v in values["curve_top1"].split()]
    except ValueError:
        raise _BadCell("curve_top1", "is not a list of numbers") from None
    if any(not 0.0 <= v <= 1.0 for v in curve):
        raise _BadCell("curve_top1", "has a value outside 0..1")
    if values["converged"] is None and values["status"] == "ok":
        verdict = judge(values["final_loss"], curve, values["num_classes"])
        values.update(
            converged=verdict.converged,
            final_loss_ratio=verdict.final_loss_ratio,
            curve_slope_pp_per_epoch=verdict.curve_slope_pp_per_epoch,
        )
    return AblationRecord(**values)


class _BadCell(Exception):
    def __init__(self, column: str, why: str) -> None:
        super().__init__(column, why)
        self.column, self.why = column, why


def read_records(path: Path, option: str = opt("csv")) -> list[AblationRecord]:
    """The records of an ablation CSV (``[]`` when the file is missing or empty); older files read too.

    Read as appending sees the file (``csvfile.read_table``): a row with another field count than the header (a torn
    last line) is not a record. Every value is parsed and range-checked (accuracies and curves within 0..1, counts
    not negative, numbers finite, an ok row with its top-1 and loss); the first bad one is refused as
    ``FILE:LINE`` with its column.
    """
    from ..io.csvfile import is_older_header, read_table

    table = read_table(path, None, option)
    if table.header and table.header != list(COLUMNS) and not is_older_header(table.header, COLUMNS, ADDED_COLUMNS):
        read_table(path, COLUMNS, option)  # raises the header mismatch, naming the first differing column
    out = []
    for lineno, row in table.rows:
        try:
            out.append(_record(legacy_defaults(row)))
        except _BadCell as bad:
            raise ResultsFileError(
                f"{path}:{lineno}: column {bad.column} {bad.why}; fix or remove that line."
            ) from None
    return out


def is_done(record: AblationRecord) -> bool:
    """Whether a record read back stands for its run on ``--resume`` (a failed one does not)."""
    return record.status == "ok"


def run_key(record: AblationRecord) -> tuple[Any, ...]:
    """What makes two rows the same run for ``--resume`` (``RUN_KEY``)."""
    return tuple(getattr(record, c) for c in RUN_KEY)


def result_key(record: AblationRecord) -> tuple[Any, ...]:
    """What makes two rows the same experiment for ``--report-only`` (``RESULT_KEY``)."""
    return tuple(getattr(record, c) for c in RESULT_KEY)


def score_of(record: AblationRecord) -> float | None:
    """The number a run is compared by: mean IoU for a dense task, top-1 otherwise."""
    return record.miou if record.head else record.top1


def curve_of(record: AblationRecord) -> list[float]:
    """The per-epoch test curve of a record (its score, fractions, oldest first)."""
    return [float(v) for v in record.curve_top1.split()] if record.curve_top1 else []
