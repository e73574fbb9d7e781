"""The Python API behind ``attnbench.*``; the CLI calls the same functions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from . import modules
from .cost.spec import BASELINE, ProfileSpec, check_name
from .errors import UsageError, opt
from .hosts import resolve

if TYPE_CHECKING:
    import pandas as pd

    from .cost.runner import Progress


def create_attention(name: str, channels: int, **kwargs: Any) -> nn.Module:
    """Build attention module ``name`` for ``channels`` channels (``nn.Identity`` for ``"none"``)."""
    check_name(modules.ATTENTION, name)
    return modules.create_attention(name, channels, **kwargs)


def create_model(
    backbone: str,
    attention: str | None = None,
    width: float = 1.0,
    num_classes: int | None = None,
    weights: str | Path | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``backbone`` with ``attention`` where its paper puts it; see ``attnbench.modules.create_model``
    (``head=`` puts a dense head on it; ``num_classes`` defaults to 1000, or the head's own).

    Args:
        weights: the Coordinate Attention authors' released MobileNetV2+CA checkpoint (``mbv2_ca.pth``), loaded
            with ``torch.load(weights_only=True)`` and mapped onto this model's keys.
    """
    resolve(backbone)
    check_name(modules.BACKBONES, backbone)
    if attention is not None:
        check_name(modules.ATTENTION, attention)
    if kwargs.get("head") is not None:
        check_name(modules.HEADS, kwargs["head"])
    model = modules.create_model(backbone, attention, width=width, num_classes=num_classes, **kwargs)
    if weights is not None:
        from .cost.weights import load_ca_checkpoint

        load_ca_checkpoint(model, weights)
    return model


def register_backbone(
    factory: Callable[..., nn.Module], name: str | None = None, pattern: str | Sequence[str] | None = None
) -> str:
    """Register a function that returns a network as a backbone, and return its name for ``profile``/``sweep``.

    The network's SE-like modules are its attention slots (``find_se_like`` with ``pattern``): ``se`` keeps them
    when they are squeeze-and-excitation, ``none`` removes them, any other module replaces them.

    Args:
        factory: returns a ``torch.nn.Module``; gets ``num_classes`` when it takes that keyword.
        name: ``SOURCE:NAME``; ``python:<module>.<qualname>`` of the factory by default.
        pattern: qualified names or ``fnmatch`` patterns of the slots, instead of the known SE-like classes.
    """
    from .hosts import register_factory

    return register_factory(factory, name, pattern)


def find_se_like(model: nn.Module, pattern: str | Sequence[str] | None = None) -> list[tuple[str, nn.Module]]:
    """The SE-like modules of any network, ``(qualified name, module)``: those named by ``pattern`` (fnmatch), else
    the ones the model declares (``attn_slots``), else those of the known classes of torchvision, timm and
    attnbench. See ``attnbench.modules.swap``."""
    from .modules.swap import find_se_like as _find

    return _find(model, pattern)


def swap_attention(model: nn.Module, name: str, **kwargs: Any) -> Any:
    """Replace the SE-like modules of ``model`` in place with registered module ``name`` (``"none"`` removes them);
    returns a ``SwapResult`` (slots, channels, r and its rule, params before and after). Keywords: ``pattern``,
    ``reduction``, ``match_params``, ``example`` and the module's own; see ``attnbench.modules.swap``."""
    from .modules.swap import swap_attention as _swap

    check_name(modules.ATTENTION, name)
    try:
        return _swap(model, name, **kwargs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _plain(value: Any) -> Any:
    """A default as plain data: numbers, strings, booleans and None as they are, a class or function by its name."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return getattr(value, "__name__", repr(value))


def list_attention() -> list[dict[str, Any]]:
    """One dict per registered attention module, plain values only.

    Keys: ``name``, ``paper``, ``arxiv`` (strings, ``""`` when unknown), ``hook`` (``"block"``: inside a block, or
    ``"stage"``: at stage boundaries), ``variant`` (string) and ``defaults`` (``{keyword: value}``, a class or
    function given by its name, e.g. ``{"reduction": 32, "act_layer": "Hardswish", ...}``).
    """
    return [
        {
            "name": e.name,
            "paper": str(e.meta.get("paper", "")),
            "arxiv": str(e.meta.get("arxiv", "")),
            "hook": "stage" if e.meta.get("hook") == "stage" else "block",
            "variant": str(e.meta.get("variant", "")),
            "defaults": {k: _plain(v) for k, v in modules.attention_defaults(e.name).items()},
        }
        for e in modules.ATTENTION
    ]


def list_backbones() -> list[dict[str, Any]]:
    """One dict per registered backbone, plain values only.

    Keys: ``name``, ``paper``, ``arxiv``, ``stage_slot`` (strings, ``""`` when unknown), ``positions`` (the in-block
    slots, a list, default first), ``width_min`` and ``width_max`` (the width multipliers it accepts, floats;
    ``None`` when the backbone does not say), ``own_attention`` (the attention modules the network itself carries,
    which ``se`` keeps; ``""`` for none).
    """
    out = []
    for e in modules.BACKBONES:
        lo, hi = e.meta.get("width_range", (None, None))
        out.append(
            {
                "name": e.name,
                "paper": str(e.meta.get("paper", "")),
                "arxiv": str(e.meta.get("arxiv", "")),
                "positions": list(e.meta.get("positions", ())),
                "stage_slot": str(e.meta.get("stage_slot", "")),
                "width_min": None if lo is None else float(lo),
                "width_max": None if hi is None else float(hi),
                "own_attention": str(e.meta.get("own_attention", "")),
            }
        )
    return out


def list_heads() -> list[dict[str, Any]]:
    """One dict per registered dense head, plain values only.

    Keys: ``name``, ``paper``, ``arxiv``, ``task`` (``detection`` or ``segmentation``), ``variant`` (strings),
    ``num_classes`` (its default), ``backbones``, ``output_strides`` and ``slots`` (lists, default first).
    """
    return [
        {
            "name": e.name,
            "paper": str(e.meta.get("paper", "")),
            "arxiv": str(e.meta.get("arxiv", "")),
            "task": str(e.meta.get("task", "")),
            "variant": str(e.meta.get("variant", "")),
            "num_classes": int(e.meta["num_classes"]),
            "backbones": list(e.meta.get("backbones", ())),
            "output_strides": [int(s) for s in e.meta.get("output_strides", ())],
            "slots": list(e.meta.get("slots", ())),
        }
        for e in modules.HEADS
    ]


def list_runtimes() -> list[dict[str, str]]:
    """One dict per runtime: name, whether it is installed (or what is missing), version, devices, int8, extra."""
    from .runtimes import RUNTIMES, install_hint

    out = []
    for rt in RUNTIMES.values():
        gone = rt.missing()
        out.append(
            {
                "runtime": rt.name,
                "installed": "yes" if not gone else "no: " + ", ".join(gone),
                "version": rt.version() if not gone else "",
                "devices": ", ".join(rt.devices),
                "int8": "yes" if rt.quantizes else "",
                "install": install_hint(rt.extra) if rt.extra else "with torch",
            }
        )
    return out


def build_spec(
    module_names: Iterable[str],
    require_module: bool = True,
    **fields: Any,
) -> ProfileSpec:
    """A validated ``ProfileSpec``; ``"none"`` in ``module_names`` is dropped (the baseline is always measured).

    Args:
        module_names: attention modules to measure beside the baseline.
        require_module: refuse an empty module list (the CLI does; tables may measure a baseline alone).
        **fields: the other ``ProfileSpec`` fields.
    """
    module_names = list(module_names)
    if isinstance(fields.get("backbone"), str):
        resolve(fields["backbone"])  # a reference (PATH.py:FACTORY, timm:NAME) is registered on first use
    wanted = tuple(n for n in dict.fromkeys(module_names) if n != BASELINE)
    if require_module and not wanted and BASELINE in module_names:
        raise UsageError(f"'none' is the baseline and always measured; also pass a module, e.g. {opt('modules')} ca.")
    return ProfileSpec(modules=wanted, **fields).validate(require_module=require_module)


def run_profile(
    spec: ProfileSpec, csv: Path | None = None, progress: Progress | None = None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Measure ``spec``; append its rows to ``csv`` if given (checked before any measuring).

    Rows are appended the moment they are final (see ``cost.runner.profile``): without latency each model's row
    right after it is counted, with latency all rows at once after the timing rounds, before anything is shown.
    """
    from .cost.records import COLUMNS, as_dict, to_frame
    from .cost.runner import profile as _profile
    from .io.csvfile import CsvAppender

    if csv is None:
        result = _profile(spec, progress)
    else:
        from .cost.records import upgrade

        upgrade(csv)  # a file written before some of the columns gets them, its rows kept
        with CsvAppender(csv, COLUMNS) as out:
            try:
                result = _profile(spec, progress, on_records=lambda rows: out.extend([as_dict(r) for r in rows]))
            except KeyboardInterrupt as exc:
                exc.written = out.written  # type: ignore[attr-defined]  # for the interruption line
                raise
    return to_frame(result.records), result.warnings


def profile(
    module: str | Iterable[str] = "ca", backbone: str | Callable[..., nn.Module] = "mbv2", **fields: Any
) -> pd.DataFrame:
    """Profile ``module`` (a name or names) in ``backbone`` beside the baseline; one row per model.

    Args:
        module: registered attention module(s).
        backbone: a registered backbone, a reference (``PATH.py:FACTORY``, ``timm:NAME``, ``torchvision:NAME``), or
            a function that returns a network (registered with :func:`register_backbone`).
        **fields: ``ProfileSpec`` fields (``width``, ``input_size``, ``batch``, ``device``, ``threads``,
            ``repeats``, ``latency``, ``match_params``, ...) plus ``csv`` (a path to append to).
    """
    if callable(backbone):
        backbone = register_backbone(backbone)
    names = [module] if isinstance(module, str) else list(module)
    csv = fields.pop("csv", None)
    frame, _ = run_profile(build_spec(names, backbone=backbone, **fields), csv=Path(csv) if csv else None)
    return frame
