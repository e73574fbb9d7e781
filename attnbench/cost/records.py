"""Result rows: one flat record per measured model, with units in the column names and raw numbers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ProfileRecord:
    """One model of a profile run. Counts are raw integers, times in ms, memory in bytes."""

    backbone: str
    module: str
    position: str
    reduction: int | None
    width: float
    input_size: int
    batch: int
    device: str
    dtype: str
    threads: int
    build: str
    """eager, channels_last, compile or compile+channels_last."""
    mode: str
    """What the latency times: ``inference`` (a forward under ``inference_mode``) or ``train`` (a training step:
    forward in train mode and backward of the summed logits; no optimizer step)."""
    params: int | None
    attn_params: int | None
    attn_count: int | None
    """Attention modules inserted."""
    macs: int | None
    attn_macs: int | None
    elementwise_ops: int | None
    attn_elementwise_ops: int | None
    flops_unsupported: str
    """Ops the counter did not know, 'op:count' joined by ';' (empty when none)."""
    latency_ms_median: float | None
    latency_ms_iqr: float | None
    latency_ms_mean: float | None
    latency_ms_min: float | None
    latency_n: int | None
    latency_calls_per_sample: int | None
    throughput_ips: float | None
    peak_mem_bytes: int | None
    d_params: int | None
    d_macs: int | None
    d_elementwise_ops: int | None
    d_latency_pct: float | None
    """Latency share: (median of the per-round ratios to the baseline of the same build − 1) × 100."""
    d_latency_pct_ci_low: float | None
    d_latency_pct_ci_high: float | None
    """The 95 % distribution-free interval of ``d_latency_pct`` (empty with fewer than 6 paired samples)."""
    status: str
    """ok, or failed (then ``error`` says why and the measured columns are empty)."""
    error: str
    torch_version: str
    cuda_version: str
    device_name: str
    cpu_name: str
    host: str
    git_sha: str
    timestamp_utc: str


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ProfileRecord))
OPTIONAL_INT_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(ProfileRecord) if f.type in ("int | None", int | None)
)
"""Integer columns that may be empty; pandas' nullable ``Int64`` keeps them integers in CSV and JSON."""


def as_dict(record: ProfileRecord) -> dict[str, Any]:
    return dataclasses.asdict(record)


def to_frame(records: Iterable[ProfileRecord]) -> pd.DataFrame:
    """A DataFrame with exactly ``COLUMNS``, in order."""
    import pandas as pd

    frame = pd.DataFrame([as_dict(r) for r in records], columns=list(COLUMNS))
    return frame.astype({c: "Int64" for c in OPTIONAL_INT_COLUMNS})
