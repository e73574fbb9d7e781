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
    input_size: int | str
    """The side of a square input in px, or ``"HxW"`` (height x width)."""
    head: str
    """The dense head on the backbone (``ssdlite``, ``ssdlite_voc``, ``deeplabv3``, ``lraspp``); empty: the
    classification network (and in every row written before the head columns)."""
    head_classes: int | None
    """The head's classes (empty without a head)."""
    output_stride: int | None
    """The backbone's output stride under the head (empty without a head)."""
    head_slots: str
    """Where attention sits under the head: ``backbone+extras`` (also the head's extra blocks) or ``backbone``."""
    batch: int
    device: str
    dtype: str
    threads: int
    build: str
    """The runtime, optionally with ``+channels_last`` (eager, compile, onnxruntime, openvino, ...)."""
    mode: str
    """What the latency times: ``inference`` (a forward under ``inference_mode``) or ``train`` (a training step:
    forward in train mode and backward of the summed logits; no optimizer step; PyTorch builds only)."""
    runtime: str
    """The runtime alone (``build`` without its layout)."""
    runtime_version: str
    quantize: str
    """none, or int8 (static quantization by the runtime's quantizer)."""
    graph: str
    """The graph form the runtime was given (``nn.Module``; the ONNX opset and exporter; the quantization)."""
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
    max_abs_diff: float | None
    """Largest absolute difference between this build's output and eager's on the timing input (0 for eager)."""
    output_abs_max: float | None
    """Largest absolute value of eager's output on that input: the scale ``max_abs_diff`` is judged against."""
    top1_agreement: float | None
    """int8 only: the fraction of predictions on ``agreement_images`` synthetic images whose class equals eager's:
    one per image, per pixel (segmentation) or per box (detection)."""
    attn_ops_int8: int | None
    attn_ops_float: int | None
    """Ops of the exported graph inside attention modules that run in int8 / in float (ONNX-based runtimes)."""
    attn_float_op_types: str
    """The float ones by op type, 'Op:count' joined by ';'."""
    status: str
    """ok, or failed (then ``error`` says why and the measured columns are empty)."""
    error: str
    torch_version: str
    cuda_version: str
    device_name: str
    cpu_name: str
    allocator: str
    """The C allocator the latency was timed under (``glibc 2.36, heap kept``: see ``cost.heap``); empty when
    nothing was timed."""
    host: str
    git_sha: str
    timestamp_utc: str


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ProfileRecord))
RUNTIME_COLUMNS: tuple[str, ...] = (
    "runtime", "runtime_version", "quantize", "graph", "max_abs_diff", "output_abs_max", "top1_agreement",
    "attn_ops_int8", "attn_ops_float", "attn_float_op_types",
)  # fmt: skip
"""Columns added with the runtimes."""
HEAD_COLUMNS: tuple[str, ...] = ("head", "head_classes", "output_stride", "head_slots")
"""Columns added with the dense heads; empty in a classification row, as in every older row."""
ADDED_COLUMNS: tuple[str, ...] = (*RUNTIME_COLUMNS, "mode", "allocator", *HEAD_COLUMNS)
"""Columns added since the first results format; files written without some of them still load
(``sweep.is_older_header``, ``legacy_defaults``)."""


def legacy_defaults(row: dict[str, str]) -> dict[str, str]:
    """A row read from a file written before some of ``ADDED_COLUMNS``, with those filled in: its build's runtime,
    no quantization, inference, and empty cells for what was not measured then. Columns the row has are kept."""
    build = row.get("build", "") or "eager"
    runtime = "eager" if build == "channels_last" else build.partition("+")[0]
    filled = {c: "" for c in ADDED_COLUMNS}
    filled.update(runtime=runtime, runtime_version=row.get("torch_version", ""), quantize="none", mode="inference")
    return {**filled, **row}


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
