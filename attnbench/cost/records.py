"""Result rows: one flat record per measured model, with units in the column names and raw numbers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import AttnbenchError, ResultsFileError, opt
from ..io.reading import Rule
from .shape import INPUT_SIZE

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ProfileRecord:
    """One model of a profile run. Counts are raw integers, times in ms, memory in bytes."""

    backbone: str
    module: str
    position: str
    reduction: int | None
    reduction_rule: str
    """How ``reduction`` was chosen: ``default`` (the module's own), ``given`` (one r for all), ``matched`` (to the
    host's own attention parameters) or ``native`` (the host's own module); empty for the baseline
    (``cost.reduction``)."""
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
    warm_calls: int | None
    """Untimed calls of the same model right before each timed sample (0: cold samples, each right after another
    model's); empty when nothing was timed."""
    latency_repeats: int | None
    """The timing settings the row was measured under: the fewest rounds asked for (``--repeats``), ..."""
    latency_precision_pp: float | None
    """... the precision target, as the half-width of the Δlatency interval in percentage points ..."""
    latency_max_time_s: float | None
    """... and the time budget in seconds (0: exactly ``latency_repeats`` rounds). Empty where nothing was timed."""
    latency_stop: str
    """What ended the timing rounds: ``precision`` (every Δlatency interval met the target), ``max_time`` (the time
    budget ran out first), ``repeats`` (a budget of 0: exactly the rounds asked for), ``max_samples`` (the cap on
    rounds), or empty where nothing was timed. ``sweep --resume`` counts a timed row as done whatever ended it, when
    its three settings and its ``warm_calls`` are the run's."""
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
    cpu_cache_kib: str
    """The CPU's data and unified cache sizes in KiB per level, 'L1d:48;L2:1024;L3:32768' (Linux sysfs; empty
    where the OS does not say)."""
    allocator: str
    """The C allocator the latency was timed under (``glibc 2.36, heap kept``: see ``cost.heap``); empty when
    nothing was timed."""
    host: str
    git_sha: str
    timestamp_utc: str


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ProfileRecord))
RUNTIME_COLUMNS: tuple[str, ...] = (
    "runtime",
    "runtime_version",
    "quantize",
    "graph",
    "max_abs_diff",
    "output_abs_max",
    "top1_agreement",
    "attn_ops_int8",
    "attn_ops_float",
    "attn_float_op_types",
)
"""Columns added with the runtimes."""
HEAD_COLUMNS: tuple[str, ...] = ("head", "head_classes", "output_stride", "head_slots")
"""Columns added with the dense heads; empty in a classification row, as in every older row."""
TIMING_COLUMNS: tuple[str, ...] = ("latency_repeats", "latency_precision_pp", "latency_max_time_s", "latency_stop")
"""The timing settings a row was measured under, and what ended its rounds (``sweep --resume`` keys on them, and on
``warm_calls``)."""
KEY: tuple[str, ...] = (
    "backbone",
    "module",
    "position",
    "reduction",
    "reduction_rule",
    "width",
    "input_size",
    "head",
    "head_classes",
    "output_stride",
    "head_slots",
    "batch",
    "device",
    "dtype",
    "threads",
    "build",
    "quantize",
    "mode",
)
"""A row's configuration, declared once: the columns that must be equal for one row to stand for another
(``sweep --resume``, ``compare``, ``check``, ``plot`` and the tables). Every other column is a measurement or
where and when it was taken; an older row gets the key columns it lacks from ``legacy_defaults``."""
USUAL: dict[str, str] = {"quantize": "none", "mode": "inference", "reduction_rule": "default"}
"""The value a key column holds unless the user asked for another; an older file without the column implies it
(``legacy_defaults``), and a plot's title does not name it."""
MODULE_KEY: tuple[str, ...] = ("module", "position", "reduction", "reduction_rule")
"""The key columns that tell the modules of one sweep apart."""
SETTING_KEY: tuple[str, ...] = tuple(c for c in KEY if c not in MODULE_KEY)
"""The rest of the key: the network the modules sit in and how it was run. Rows sharing it are one comparison
(each module against the baseline ``none`` of the same setting)."""
BASELINE_KEY: tuple[str, ...] = tuple(c for c in KEY if c not in ("reduction_rule", *HEAD_COLUMNS, "mode"))
"""The key of a baseline row (``attnbench baseline``, ``check``): a baseline holds classification models timed for
inference, so it has no head columns and no ``mode``, and ``reduction_rule`` follows from the module. Files written
before the runtimes load with build eager and quantize none; files that called the build ``runtime`` still load."""
ADDED_COLUMNS: tuple[str, ...] = (
    *RUNTIME_COLUMNS,
    "mode",
    "allocator",
    "reduction_rule",
    "warm_calls",
    "cpu_cache_kib",
    *TIMING_COLUMNS,
    *HEAD_COLUMNS,
)
"""Columns added since the first results format; files written without some of them still load
(``io.csvfile.upgrade_header``, ``legacy_defaults``)."""


def legacy_defaults(row: dict[str, str]) -> dict[str, str]:
    """A row read from a file written before some of ``ADDED_COLUMNS``, with those filled in: its build's runtime,
    no quantization, inference, and empty cells for what was not measured then. Columns the row has are kept."""
    build = row.get("build", "") or "eager"
    runtime = "eager" if build == "channels_last" else build.partition("+")[0]
    filled = {c: "" for c in ADDED_COLUMNS}
    filled.update(runtime=runtime, runtime_version=row.get("torch_version", ""))
    filled.update(quantize=USUAL["quantize"], mode=USUAL["mode"])
    if row.get("latency_ms_median"):
        filled["warm_calls"] = "0"  # timed before warm samples: each sample right after another model's
    return {**filled, **row}


_COUNTS = (
    "params attn_params attn_count macs attn_macs elementwise_ops attn_elementwise_ops peak_mem_bytes attn_ops_int8 "
    "attn_ops_float latency_n"
).split()
_POSITIVE = "latency_ms_median latency_ms_mean latency_ms_min throughput_ips".split()
_SHARES = "d_latency_pct d_latency_pct_ci_low d_latency_pct_ci_high".split()
VALUES: dict[str, Rule] = {
    "width": Rule(float, low=0, above=True),
    "input_size": INPUT_SIZE,
    **dict.fromkeys(
        ("batch", "threads", "reduction", "latency_calls_per_sample", "head_classes", "output_stride"), Rule(int, low=1)
    ),
    "warm_calls": Rule(int, low=0),
    **dict.fromkeys(_COUNTS, Rule(int, low=0)),
    **dict.fromkeys(("d_params", "d_macs", "d_elementwise_ops"), Rule(int)),
    **dict.fromkeys(_POSITIVE, Rule(float, low=0, above=True)),
    **dict.fromkeys(("latency_ms_iqr", "max_abs_diff", "output_abs_max"), Rule(float, low=0)),
    **dict.fromkeys(_SHARES, Rule(float, low=-100, above=True)),
    "top1_agreement": Rule(float, low=0, high=1),
    "latency_repeats": Rule(int, low=1),
    "latency_precision_pp": Rule(float, low=0, high=100, above=True),
    "latency_max_time_s": Rule(float, low=0),
}
"""What each numeric column of a results file may hold (``io.reading.Rule``): counts are whole numbers ≥ 0, times
and throughput above 0, a latency share above −100 %, an agreement a fraction; every number finite. Every reader of
results files checks them (``compare``, ``sweep --resume``, ``baseline write --from``, ``plot``)."""


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


class CheckedRows(NamedTuple):
    """A results file as read back: its header, its rows with every ``VALUES`` column typed and checked, and the
    rows with another field count than the header (``(line, fields)``: a torn last line)."""

    header: list[str]
    rows: list[tuple[int, dict[str, Any]]]
    bad: list[tuple[int, int]]


def read_result_rows(
    path: str | Path,
    option: str,
    fix: str,
    *,
    error: type[AttnbenchError] = ResultsFileError,
    missing_ok: bool = False,
    columns: tuple[str, ...] | None = None,
    missing_fix: str | None = None,
) -> CheckedRows:
    """Read a profile or sweep CSV as every results reader does: a regular file (``io.reading.read_regular``),
    UTF-8 CSV text with a byte order mark and CRLF ignored and NUL bytes and repeated column names refused
    (``io.csvfile.read_table``), and each cell of a ``VALUES`` column checked against its rule.

    Args:
        path: the file.
        option: how the user gave it (``--csv``, ``A``, ``--from``), for the messages.
        fix: how a message about the path ends.
        error: the error class raised (exit code 2).
        missing_ok: a missing file reads as no rows.
        columns: the header the file must have (``None``: any).
        missing_fix: how the message for a missing file ends, when not as ``fix``.

    Raises:
        error: the path is not a readable regular file, the text is not CSV, or a cell breaks its column's rule
            (``FILE:LINE: column 'x': ...``).
    """
    from ..io.csvfile import read_table
    from ..io.reading import check_values

    table = read_table(path, columns, option, fix=fix, error=error, missing_ok=missing_ok, missing_fix=missing_fix)
    return CheckedRows(table.header, check_values(table.rows, VALUES, path, error=error), table.bad)


def upgrade(path: Path, option: str = opt("csv")) -> bool:
    """Rewrite a results CSV written before some of today's columns (runtime, mode, allocator, the timing settings, ...) with today's
    header, so rows can be appended; its rows kept, the new columns filled by ``legacy_defaults`` (their
    build's runtime, no quantization, inference, the rest empty). Returns whether the file was rewritten."""
    from ..io.csvfile import upgrade_header

    return upgrade_header(
        path,
        COLUMNS,
        ADDED_COLUMNS,
        legacy_defaults,
        option=option,
        filled="runtime from their build, quantize none, mode inference",
    )
