"""What to measure, as frozen dataclasses built once at the CLI or API edge and validated once."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import modules
from ..errors import DeviceUnavailableError, UnknownNameError, UsageError, opt
from . import BASELINE
from .shape import InputSize, input_hw, input_label

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
BUILDS = ("eager", "channels_last", "compile", "compile+channels_last")
"""The PyTorch builds; every runtime of ``attnbench.runtimes.RUNTIMES`` is a build too."""
MODES = ("inference", "train")


def check_name(registry: modules.Registry, name: str) -> None:
    """Raise ``UnknownNameError`` (one line, with choices and the closest match) for an unregistered key."""
    try:
        registry.get(name)
    except modules.UnknownNameError as exc:
        raise UnknownNameError(str(exc)) from None


def check_device(device: str) -> None:
    """Raise when ``device`` is malformed or absent; never fall back to another device."""
    if device == "cpu":
        return
    m = re.fullmatch(r"cuda(?::(\d+))?", device)
    if not m:
        raise UsageError(f"unknown device '{device}'; use 'cpu', 'cuda' or 'cuda:N'.")
    if not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"device '{device}' requested but CUDA is not available on this machine; use {opt('device')} cpu "
            "(attnbench never falls back silently)."
        )
    index = int(m.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise DeviceUnavailableError(
            f"device '{device}' requested but only {torch.cuda.device_count()} CUDA device(s) exist."
        )


def check_model(
    backbone: str,
    width: float,
    input_size: InputSize,
    small_input: bool,
    hint_small: bool = True,
) -> None:
    """Raise a one-line ``UsageError`` when width or input size do not fit ``backbone`` (a registered name).

    ``hint_small=False`` leaves out the ``small_input`` hint, for callers that cannot set it (a baseline file).
    """
    meta = modules.BACKBONES.get(backbone).meta
    lo, hi = meta["width_range"]
    if not (math.isfinite(width) and lo <= width <= hi):
        raise UsageError(f"{opt('width')} {width} is outside {lo}-{hi} for backbone '{backbone}'.")
    if small_input and meta.get("min_input_small") is None:
        raise UsageError(f"backbone '{backbone}' has no small-input variant; drop {opt('small_input')}.")
    min_input = meta["min_input_small" if small_input else "min_input"]
    if not all(min_input <= side <= 4096 for side in input_hw(input_size)):
        small = f" (or add {opt('small_input')} for 32-64 px images)" if hint_small and not small_input else ""
        raise UsageError(
            f"{opt('input_size')} {input_label(input_size)} does not fit backbone '{backbone}': "
            f"use {min_input} to 4096{small}."
        )


def check_head(
    backbone: str,
    head: str,
    stride: int | None = None,
    slots: str | None = None,
    small_input: bool = False,
) -> None:
    """A registered head on a backbone it takes, at a stride and slot rule it offers (``None``: its own), on the
    full-stride backbone."""
    check_name(modules.HEADS, head)
    meta = modules.HEADS.get(head).meta
    if backbone not in meta["backbones"]:
        raise UsageError(
            f"{opt('head')} {head} takes {opt('backbone')} {' or '.join(meta['backbones'])}, not '{backbone}'."
        )
    if stride is not None and stride not in meta["output_strides"]:
        choices = " or ".join(map(str, meta["output_strides"]))
        raise UsageError(f"{opt('head')} {head} takes {opt('output_stride')} {choices}, not {stride}.")
    if slots is not None and slots not in meta["slots"]:
        raise UsageError(f"{opt('head')} {head} takes {opt('head_slots')} {' or '.join(meta['slots'])}, not '{slots}'.")
    if small_input:
        raise UsageError(f"{opt('head')} {head} needs the full-stride backbone: drop {opt('small_input')}.")


def check_threads(threads: int) -> None:
    """Refuse more threads than the cores this process may use: timing them would measure contention, not the
    model, and the row would record a condition that did not hold."""
    from ..env import available_cpus

    cores = available_cpus()
    if threads > cores:
        raise UsageError(
            f"{opt('threads')} {threads} is more than the {cores} CPU core(s) this process may use; "
            f"use at most {cores}."
        )


@dataclass(frozen=True)
class ProfileSpec:
    """One ``attnbench profile`` run: the baseline plus each module, in one backbone configuration.

    ``modules`` never holds ``BASELINE``: the baseline is always measured, first, through the same path.
    """

    modules: tuple[str, ...]
    backbone: str = "mbv2"
    width: float = 1.0
    input_size: InputSize = 224
    """The side of a square input, or ``(height, width)``."""
    batch: int = 1
    device: str = "cpu"
    dtype: str = "float32"
    threads: int = 1
    warmup: int = 10
    repeats: int = 30
    """The fewest timed samples per model; more rounds are added until ``precision`` is met."""
    precision: float = 0.02
    """Target half-width of every Δlatency's 95 % interval, as a fraction of the ratio (0.02: ±2 pp)."""
    max_time: float = 60.0
    """Seconds of timing (warm-up included) after which no round is added; the ``repeats`` rounds always run."""
    warm_calls: int = 1
    """Untimed calls of a model right before each of its timed samples (``timing.WARM_CALLS``; 0: cold samples)."""
    reduction: int | None = None
    match_params: bool = False
    """Each module's r matched to the host's own attention parameters (``cost.reduction``); not with ``reduction``."""
    position: str | None = None
    num_classes: int | None = None
    """Classes of the classifier or dense head (``None``: 1000, or the head's default; see ``classes``)."""
    small_input: bool = False
    head: str | None = None
    """A dense head (``ssdlite``, ``ssdlite_voc``, ``deeplabv3``, ``lraspp``) on the backbone; ``None``: the
    classification network."""
    output_stride: int | None = None
    """The backbone's output stride under a head (``None``: the head's default)."""
    head_slots: str | None = None
    """Where attention goes under a head: ``backbone+extras`` or ``backbone`` (``None``: the head's default)."""
    builds: tuple[str, ...] = ("eager",)
    """Runtimes to time every model on (``eager``, ``compile``, ``onnxruntime``, ``openvino``, ...), each optionally
    with ``+channels_last``; every Δ is against the baseline on the same build."""
    quantize: str = "none"
    """``int8``: every build is statically quantized (only runtimes that quantize take it)."""
    calibration_images: int = 32
    """Synthetic images (seeded) that calibrate int8 quantization."""
    agreement_images: int = 256
    """Synthetic images (seeded, other than the calibration ones) on which an int8 model's top-1 is compared with
    eager's."""
    mode: str = "inference"
    """What is timed: ``inference`` (forward) or ``train`` (forward + backward); see ``ProfileRecord.mode``."""
    latency: bool = True
    memory: bool = True
    """Measure peak memory (one instrumented forward per model); tables and count-only checks skip it."""
    seed: int = 0
    weights: str | None = None
    """The CA authors' MobileNetV2+CA checkpoint, loaded into every attended model (CA family, mbv2 only)."""
    attn_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> int:
        """The class count the model is built with."""
        if self.num_classes is not None:
            return self.num_classes
        return int(modules.HEADS.get(self.head).meta["num_classes"]) if self.head else 1000

    @property
    def stride(self) -> int | None:
        """The output stride the head is built at (``None`` without a head)."""
        if not self.head:
            return None
        return self.output_stride or int(modules.HEADS.get(self.head).meta["output_strides"][0])

    @property
    def slots(self) -> str:
        """Where attention goes under the head (empty without one)."""
        if not self.head:
            return ""
        return self.head_slots or str(modules.HEADS.get(self.head).meta["slots"][0])

    @property
    def names(self) -> tuple[str, ...]:
        """The baseline followed by the requested modules."""
        return (BASELINE, *self.modules)

    def module_kwargs(self) -> dict[str, Any]:
        """Constructor keywords of every module of the run (``reduction`` included)."""
        kw = dict(self.attn_kwargs)
        if self.reduction is not None:  # the baseline's factory takes and ignores it
            kw["reduction"] = self.reduction
        return kw

    def validate(self, require_module: bool = True, check_cores: bool = True, hint_small: bool = True) -> ProfileSpec:
        """Check every field; raise a one-line ``UsageError`` (or ``DeviceUnavailableError``) naming the fix.

        Args:
            require_module: refuse a spec without a module (the baseline alone).
            check_cores: refuse more ``threads`` than this process's cores; off only where nothing is timed and the
                thread count is a recorded condition of another machine (a count-only check of a baseline).
            hint_small: suggest ``small_input`` for an input too small for the backbone (not where it cannot be set).
        """

        check_name(modules.BACKBONES, self.backbone)
        if self.head:
            check_name(modules.HEADS, self.head)
        if not self.modules and require_module:
            m = opt("modules")
            raise UsageError(f"no attention module given; pass {m}, e.g. {m} ca or {m} se,ca.")
        for name in self.modules:
            check_name(modules.ATTENTION, name)
        check_model(self.backbone, self.width, self.input_size, self.small_input, hint_small)
        meta = modules.BACKBONES.get(self.backbone).meta
        for key, value, top in (
            ("batch", self.batch, 4096),
            ("threads", self.threads, 1024),
            ("repeats", self.repeats, 100000),
            ("num_classes", self.classes, 100000),
        ):
            if not 1 <= value <= top:
                raise UsageError(f"{opt(key)} must be between 1 and {top}, got {value}.")
        if check_cores:
            check_threads(self.threads)
        if not 0 <= self.warm_calls <= 1000:
            raise UsageError(f"{opt('warm_calls')} must be between 0 and 1000, got {self.warm_calls}.")
        if not 0 <= self.warmup <= 100000:
            raise UsageError(f"{opt('warmup')} must be between 0 and 100000, got {self.warmup}.")
        if self.latency and self.repeats < 5:
            raise UsageError(f"{opt('repeats')} must be at least 5 for a median and IQR, got {self.repeats}.")
        if not (math.isfinite(self.precision) and 0 < self.precision < 1):
            raise UsageError(f"{opt('precision')} must be above 0 % and below 100 %, got {100 * self.precision:g}%.")
        if not (math.isfinite(self.max_time) and 0 <= self.max_time <= 86400):
            raise UsageError(f"{opt('max_time')} must be between 0 and 86400 seconds, got {self.max_time:g}.")
        if self.reduction is not None and not 1 <= self.reduction <= 4096:
            raise UsageError(f"{opt('reduction')} must be between 1 and 4096, got {self.reduction}.")
        if self.reduction is not None:
            fixed = [m for m in self.modules if not modules.accepts_keyword(m, "reduction")]
            if fixed:
                raise UsageError(
                    f"{opt('reduction')} {self.reduction}: {', '.join(fixed)} "
                    f"{'has' if len(fixed) == 1 else 'have'} no reduction ratio; measure "
                    f"{'it' if len(fixed) == 1 else 'them'} without {opt('reduction')}."
                )
        if self.match_params:
            match = opt("match_params")
            if self.reduction is not None:
                raise UsageError(f"{opt('reduction')} and {match} both set r; give one of them.")
            if not meta.get("own_attention"):
                hosts = ", ".join(b.name for b in modules.BACKBONES if b.meta.get("own_attention"))
                raise UsageError(
                    f"{match} matches each module to the parameters of the backbone's own attention modules, and "
                    f"'{self.backbone}' has none; use it with a backbone that has ({hosts}, or a model from a factory)."
                )
        positions = (*meta["positions"], "stage")
        if self.position is not None and self.position not in positions:
            raise UsageError(
                f"{opt('position')} '{self.position}' is not a slot of '{self.backbone}'; "
                f"choose from: {', '.join(positions)}."
            )
        if self.dtype not in DTYPES:
            raise UsageError(f"{opt('dtype')} '{self.dtype}' is not supported; choose from: {', '.join(DTYPES)}.")
        if not self.builds:
            raise UsageError(f"no runtime given; pass {opt('builds')} eager (or a comma list).")
        for key, value in (
            ("calibration_images", self.calibration_images),
            ("agreement_images", self.agreement_images),
        ):
            if not 1 <= value <= 100000:
                raise UsageError(f"{opt(key)} must be between 1 and 100000, got {value}.")
        if self.mode not in MODES:
            raise UsageError(f"{opt('mode')} '{self.mode}' is not supported; choose from: {', '.join(MODES)}.")
        if self.mode == "train" and not self.latency:
            raise UsageError(
                f"{opt('mode')} train times a training step: drop {opt('no_latency')} (counts are per forward)."
            )
        if self.mode == "train" and self.batch < 2:
            raise UsageError(
                f"{opt('mode')} train needs {opt('batch')} 2 or more: BatchNorm in train mode needs more than one value "
                "per channel."
            )
        if self.mode == "train" and any(b.partition("+")[0] not in BUILDS for b in self.builds):
            raise UsageError(
                f"{opt('mode')} train times PyTorch builds only (eager, compile, channels_last): an exported runtime "
                "has no backward pass."
            )
        self._validate_head()
        if self.weights is not None:
            ca_family = {"ca", "ca_relu6", "ca_silu"}
            if self.backbone != "mbv2" or not self.modules or not set(self.modules) <= ca_family:
                raise UsageError(
                    f"{opt('weights')} loads the Coordinate Attention authors' MobileNetV2+CA checkpoint: "
                    f"use it with {opt('backbone')} mbv2 {opt('modules')} ca."
                )
        check_device(self.device)
        from ..runtimes import check_builds

        check_builds(self.builds, self.device, self.dtype, self.quantize)
        if self.dtype == "float16" and self.device == "cpu":
            raise UsageError(f"{opt('dtype')} float16 needs {opt('device')} cuda; on CPU use float32 or bfloat16.")
        return self

    def _validate_head(self) -> None:
        """The head's own checks (``check_head``), and no classification checkpoint under a head."""
        if not self.head:
            for key, value in (("output_stride", self.output_stride), ("head_slots", self.head_slots)):
                if value is not None:
                    raise UsageError(f"{opt(key)} applies to a dense head; add {opt('head')} (e.g. deeplabv3).")
            return
        check_head(self.backbone, self.head, self.stride, self.slots, self.small_input)
        if self.weights is not None:
            raise UsageError(f"{opt('weights')} loads a classification checkpoint: drop it with {opt('head')}.")
