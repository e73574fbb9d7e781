"""Ablation rows: one ``AblationRecord`` per (module, seed) run, its CSV columns, and the resume key."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ResultsFileError


@dataclass(frozen=True)
class AblationRecord:
    """One (module, seed) training run. Accuracies are fractions in [0, 1]; counts raw; times in seconds."""

    backbone: str
    module: str
    width: float
    input_size: int
    small_input: bool
    data: str
    num_classes: int
    train_samples: int
    test_samples: int
    epochs: int
    batch: int
    lr: float
    weight_decay: float
    momentum: float
    warmup_epochs: float
    label_smoothing: float
    reduction: int | None
    """The module's reduction ratio r when given (``--reduction``, ``--preset ca-table1``); empty: its own default."""
    augment: str
    """Training augmentation: none, flip, crop or imagenet."""
    sync_bn: bool
    """BatchNorm statistics synchronised over distributed processes."""
    seed: int
    preset: str
    device: str
    threads: int
    world_size: int
    params: int | None
    attn_params: int | None
    macs: int | None
    """Multiply-accumulates of one forward pass at ``input_size`` (attnbench's convention, batch 1)."""
    elementwise_ops: int | None
    top1: float | None
    top5: float | None
    test_loss: float | None
    final_loss: float | None
    train_seconds: float
    throughput_ips: float
    epochs_done: int
    curve_top1: str
    """Top-1 (fraction) on the first ``curve_samples`` test images after each epoch, space-separated, oldest first."""
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
KEY_COLUMNS: tuple[str, ...] = (
    "backbone", "module", "width", "input_size", "small_input", "data", "num_classes", "train_samples", "test_samples",
    "epochs", "batch", "lr", "weight_decay", "momentum", "warmup_epochs", "label_smoothing", "reduction", "augment",
    "sync_bn", "seed", "device", "threads", "world_size",
)  # fmt: skip
"""The columns that identify a run for ``--resume``: its configuration, seed, and where it ran. Device, threads and
world size are part of it because they change what a row reports: throughput and training time always, top-1 through
floating-point order (threads, device) and per-process BatchNorm batches (world size). Only rows with
``status=ok`` count as done (``launcher`` is not part of it, so ``--resume`` works across launchers): a failed run is history, retried on resume, the retry appended after it."""

_TYPES = {f.name: str(f.type) for f in dataclasses.fields(AblationRecord)}


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
        return text.strip().lower() in ("true", "1", "yes")
    return text


def read_records(path: Path) -> list[AblationRecord]:
    """The records of an ablation CSV (``[]`` when the file is missing or empty).

    Read as appending sees the file (``csvfile.read_table``): a row with another field count than the header (a torn
    last line) is not a record; a complete row whose values do not parse is refused with its line.
    """
    from ..io.csvfile import read_table

    out = []
    for lineno, row in read_table(path, COLUMNS).rows:
        try:
            out.append(AblationRecord(**{c: _parse(c, row.get(c) or "") for c in COLUMNS}))
        except (ValueError, TypeError) as exc:
            raise ResultsFileError(f"--csv '{path}' line {lineno} is not a valid ablation row ({exc}); "
                                   "fix or remove that line.") from None  # fmt: skip
    return out


def is_done(record: AblationRecord) -> bool:
    """Whether a record read back stands for its run on ``--resume`` (a failed one does not)."""
    return record.status == "ok"


def run_key(record: AblationRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, c) for c in KEY_COLUMNS)


def curve_of(record: AblationRecord) -> list[float]:
    """The per-epoch test top-1 curve of a record (fractions, oldest first)."""
    return [float(v) for v in record.curve_top1.split()] if record.curve_top1 else []
