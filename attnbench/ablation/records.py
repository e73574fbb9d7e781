"""Ablation rows: one ``AblationRecord`` per (module, seed) run, its CSV columns, and the resume key."""

from __future__ import annotations

import csv as csv_module
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
    "backbone", "module", "width", "input_size", "data", "num_classes", "train_samples", "test_samples", "epochs",
    "batch", "lr", "weight_decay", "momentum", "warmup_epochs", "label_smoothing", "seed",
)  # fmt: skip
"""The columns that identify a run for ``--resume``: its configuration and seed."""

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
    """The records of an ablation CSV (``[]`` when the file is missing or empty)."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    out = []
    with path.open(newline="") as f:
        for lineno, row in enumerate(csv_module.DictReader(f), start=2):
            try:
                out.append(AblationRecord(**{c: _parse(c, row.get(c) or "") for c in COLUMNS}))
            except (ValueError, TypeError) as exc:
                raise ResultsFileError(f"--csv '{path}' line {lineno} is not a valid ablation row ({exc}); "
                                       "fix or remove that line.") from None  # fmt: skip
    return out


def run_key(record: AblationRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, c) for c in KEY_COLUMNS)
