"""Find the SE-like modules of any network and swap them for registered ones (torch and the standard library only).

A network attnbench did not build (torchvision's or timm's EfficientNet, a user's own) carries its attention as
modules of its own classes. :func:`find_se_like` finds them:

- by a pattern of qualified module names when one is given (``fnmatch``, as ``Registry.names``:
  ``"blocks.*.*.se"``);
- else by the names the model declares in ``attn_slots`` (a list of qualified names, or one pattern);
- else by class: the squeeze-and-excitation and gate classes of torchvision and timm (``SE_CLASSES``,
  ``GATE_CLASSES``), matched by their dotted path so that neither package is imported, and the classes of every
  registered attention module.

Only the outermost match counts, and ``nn.Identity`` (a block without the module) never does. A slot's channel count
is the channel dimension of the input it receives in one forward of an example (``slot_channels``): that works for
modules whose parameters do not show it (ECA's 1-D conv).

:func:`swap_attention` replaces them in place with a registered module built for each slot's channels, ``"none"``
with ``nn.Identity``, and declares the slots on the model (``attn_slots``), so that ``find_attention`` and everything
that measures a built-in backbone (params, op counts per module, exports) treats the result the same way.
:func:`external_host` wraps a model factory as a backbone builder with the registry's keyword interface.

The reduction of a swapped module is its own default unless one is given; ``match_params`` picks, instead, the r
whose total attention parameters over all slots come closest to those of the modules it replaces
(:func:`match_reduction`).
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._factory import attention_defaults, attention_layer
from ._helpers import ATTN_SLOTS_ATTR, NativeAttention, SlotLayer
from ._registry import ATTENTION

SE_CLASSES = (
    "torchvision.ops.misc.SqueezeExcitation",
    "timm.layers.squeeze_excite.SEModule",
    "timm.layers.squeeze_excite.EffectiveSEModule",
    "timm.models._efficientnet_blocks.SqueezeExcite",
    "attnbench.modules.se.SqueezeExcite",
)
"""Squeeze-and-excitation classes (torchvision 0.29, timm 1.0): torchvision's EfficientNet, MobileNetV3 and RegNet;
timm's EfficientNet, MobileNetV3, MixNet, GhostNet, LCNet (``_efficientnet_blocks``), SE-ResNet, RegNetY, ReXNet
(``SEModule``), ESE-VoVNet (``EffectiveSEModule``); attnbench's own."""

GATE_CLASSES = (
    "timm.layers.eca.EcaModule",
    "timm.layers.eca.CecaModule",
    "timm.layers.gather_excite.GatherExcite",
    "timm.layers.global_context.GlobalContext",
    "timm.layers.cbam.CbamModule",
    "timm.layers.cbam.LightCbamModule",
    "timm.layers.coord_attn.CoordAttn",
)
"""Other gates that keep their input's shape (timm 1.0). timm's channels-last ``SqueezeExciteCl`` is left out: it
takes (N, H, W, C) input, which no registered module does."""

SLOT = "se_slot"
"""The attention position of a network attnbench did not build: where its own SE-like modules sit."""

PROBE_SIZE = 224
"""Height and width of the example input that shows each slot's channel count (``slot_channels``)."""

MAX_REDUCTION = 256
"""The largest r ``match_reduction`` tries."""


def class_path(module: nn.Module) -> str:
    """``torchvision.ops.misc.SqueezeExcitation``: a module's class as ``module.qualname``."""
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def registered_classes() -> set[str]:
    """The class paths of every registered attention module (variants unwrapped from their ``partial``)."""
    out = set()
    for entry in ATTENTION:
        fn = entry.fn
        while isinstance(fn, functools.partial):
            fn = fn.func
        if isinstance(fn, type):
            out.add(f"{fn.__module__}.{fn.__qualname__}")
    return out


def is_se(module: nn.Module) -> bool:
    """Whether ``module`` is of a squeeze-and-excitation class (``SE_CLASSES``)."""
    return class_path(module) in SE_CLASSES


def _outermost(found: list[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    out: list[tuple[str, nn.Module]] = []
    for name, mod in found:
        if not any(name.startswith(prev + ".") for prev, _ in out):
            out.append((name, mod))
    return out


def find_se_like(model: nn.Module, pattern: str | Sequence[str] | None = None) -> list[tuple[str, nn.Module]]:
    """The SE-like modules of ``model`` as ``(qualified name, module)``, in forward-registration order.

    Args:
        model: any network.
        pattern: qualified module names or ``fnmatch`` patterns (``"blocks.*.*.se"``); ``None`` uses the names the
            model declares (``attn_slots``), else the known classes (module docstring).
    """
    if pattern is None:
        pattern = getattr(model, ATTN_SLOTS_ATTR, None)
    named = [(n, m) for n, m in model.named_modules() if n and not isinstance(m, nn.Identity)]
    if pattern is not None:
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        found = [(n, m) for n, m in named if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    else:
        known = {*SE_CLASSES, *GATE_CLASSES, *registered_classes()}
        found = [(n, m) for n, m in named if class_path(m) in known]
    return _outermost(found)


def slot_channels(model: nn.Module, names: Sequence[str], example: torch.Tensor) -> list[int]:
    """The channel count each named module sees in one forward of ``example`` (eval mode, no gradients).

    Raises:
        ValueError: a module does not run in that forward, or does not map an (N, C, H, W) tensor to its own shape
            (so no registered module can stand in for it).
    """
    seen: dict[str, int] = {}
    bad: list[str] = []

    def hook(name: str) -> Callable[..., None]:
        def record(_: nn.Module, inputs: tuple[Any, ...], out: Any) -> None:
            x = inputs[0] if inputs else None
            if not isinstance(x, torch.Tensor) or x.dim() != 4 or not isinstance(out, torch.Tensor):
                bad.append(f"{name} takes {type(x).__name__ if x is None else tuple(getattr(x, 'shape', ()))}")
            elif out.shape != x.shape:
                bad.append(f"{name} maps {tuple(x.shape)} to {tuple(out.shape)}")
            else:
                seen.setdefault(name, int(x.shape[1]))

        return record

    handles = [model.get_submodule(n).register_forward_hook(hook(n)) for n in names]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    if bad:
        raise ValueError(f"{bad[0]}: an attention slot must keep an (N, C, H, W) input's shape.")
    missing = [n for n in names if n not in seen]
    if missing:
        raise ValueError(f"module '{missing[0]}' does not run in the model's forward; it cannot be a slot.")
    return [seen[n] for n in names]


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where the submodule ``name`` (a qualified name) is."""
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def place(model: nn.Module, layer: SlotLayer, names: Sequence[str], channels: Sequence[int]) -> nn.Module:
    """Fill the slots ``names`` with ``layer(channels)`` (``nn.Identity`` for ``None``; ``NativeAttention`` keeps
    the model's own modules) and declare them on the model; returns the model."""
    if isinstance(layer, NativeAttention) and layer.reduction is not None:
        raise ValueError("the model's own attention modules have a fixed width; a reduction applies to swapped ones.")
    if not isinstance(layer, NativeAttention):
        for name, c in zip(names, channels):
            replace_module(model, name, layer(c) if layer is not None else nn.Identity())
    setattr(model, ATTN_SLOTS_ATTR, tuple(names))
    return model


def attention_params(name: str, channels: Sequence[int], **kwargs: Any) -> int:
    """Parameters of module ``name`` built once for every channel count in ``channels`` (shapes only: the modules
    are built on the ``meta`` device, so nothing is allocated or initialised)."""
    layer = attention_layer(name, **kwargs)
    if layer is None:
        return 0
    per: dict[int, int] = {}
    with torch.device("meta"):
        for c in set(channels):
            per[c] = sum(p.numel() for p in layer(c).parameters())
    return sum(per[c] for c in channels)


def match_reduction(name: str, channels: Sequence[int], target: int, **kwargs: Any) -> int | None:
    """The r (1 to ``MAX_REDUCTION``) whose module ``name`` in every slot has total parameters closest to
    ``target``; the smallest such r on a tie. ``None`` when the module takes no ``reduction`` or its parameters do not
    depend on it (then it keeps its own defaults).

    Parameters never grow with r (a bottleneck ``C // r`` wide, floored), so a bisection finds the last r whose
    count is at least ``target``, and the answer is it or the next r.
    """
    if "reduction" not in attention_defaults(name):
        return None

    @functools.cache
    def count(r: int) -> int:
        return attention_params(name, channels, reduction=r, **kwargs)

    if count(1) == count(MAX_REDUCTION):
        return None
    lo, hi = 1, MAX_REDUCTION  # count(lo) >= target > count(hi + 1), where they exist
    if count(1) < target:
        return 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(mid) >= target:
            lo = mid
        else:
            hi = mid - 1
    best = min((r for r in (lo, lo + 1) if r <= MAX_REDUCTION), key=lambda r: (abs(count(r) - target), r))
    first, last = 1, best  # the smallest r with the same count: where the bottleneck stops shrinking (its floor)
    while first < last:
        mid = (first + last) // 2
        if count(mid) == count(best):
            last = mid
        else:
            first = mid + 1
    return first


@dataclass(frozen=True)
class SwapResult:
    """What :func:`swap_attention` did."""

    slots: tuple[str, ...]
    """Qualified names of the slots, in order."""
    channels: tuple[int, ...]
    replaced: tuple[str, ...]
    """Class paths of the modules that were there."""
    module: str
    """The registered module put in (``"none"``: the slots are empty)."""
    reduction: int | None
    """Its r (``None`` for modules without one)."""
    reduction_rule: str
    """``default`` (the module's own), ``given`` or ``matched``; empty for ``"none"``."""
    params_before: int
    params_after: int
    """The model's parameters before and after the swap."""


def swap_attention(
    model: nn.Module,
    name: str,
    *,
    pattern: str | Sequence[str] | None = None,
    reduction: int | None = None,
    match_params: bool = False,
    example: torch.Tensor | None = None,
    **attn_kwargs: Any,
) -> SwapResult:
    """Replace the SE-like modules of ``model`` (in place) with the registered module ``name``.

    Args:
        model: any network; its SE-like modules are found by :func:`find_se_like`.
        name: a registered attention module (``"ca"``, ``"se"``, ...), or ``"none"`` to remove them.
        pattern: qualified module names or ``fnmatch`` patterns of the slots, instead of the known classes.
        reduction: r of every new module; ``None`` keeps the module's own default.
        match_params: choose r so that the new modules' parameters come closest to the replaced ones'
            (:func:`match_reduction`).
        example: the input of the forward that shows each slot's channels; a (1, 3, 224, 224) tensor by default.
        **attn_kwargs: other keywords for the module's constructor.

    Raises:
        ValueError: no slot found, a slot that does not keep its input's shape, or ``reduction`` together with
            ``match_params``.
    """
    if reduction is not None and match_params:
        raise ValueError("give a reduction or match_params, not both.")
    entry = ATTENTION.get(name)
    slots = find_se_like(model, pattern)
    if not slots:
        how = f"matches '{pattern}'" if pattern is not None else "is of a known SE-like class"
        raise ValueError(f"no module of the model {how}; give the slots' names as a pattern.")
    names = [n for n, _ in slots]
    if example is None:
        example = torch.randn(1, 3, PROBE_SIZE, PROBE_SIZE)
    channels = slot_channels(model, names, example)
    before = sum(p.numel() for p in model.parameters())
    rule = "" if entry.meta.get("baseline") else "given" if reduction is not None else "default"
    if match_params and not entry.meta.get("baseline"):
        target = sum(p.numel() for _, m in slots for p in m.parameters())
        matched = match_reduction(name, channels, target, **attn_kwargs)
        if matched is not None:
            reduction, rule = matched, "matched"
    kwargs = {**attn_kwargs, **({"reduction": reduction} if reduction is not None else {})}
    place(model, attention_layer(name, **kwargs), names, channels)
    own = attention_defaults(name).get("reduction")
    return SwapResult(
        slots=tuple(names),
        channels=tuple(channels),
        replaced=tuple(class_path(m) for _, m in slots),
        module=name,
        reduction=reduction if reduction is not None else (own if isinstance(own, int) else None),
        reduction_rule=rule,
        params_before=before,
        params_after=sum(p.numel() for p in model.parameters()),
    )


def external_host(
    factory: Callable[..., nn.Module], pattern: str | Sequence[str] | None = None, probe_size: int = PROBE_SIZE
) -> Callable[..., nn.Module]:
    """A backbone builder (the registry's keyword interface) for ``factory``, a function that returns a network.

    The network's SE-like modules (:func:`find_se_like` with ``pattern``) are its attention slots, at position
    ``SLOT``: ``attn_layer`` ``NativeAttention`` keeps them, ``None`` empties them and a registered module's
    constructor replaces them. ``factory`` gets ``num_classes`` when it takes that keyword; it has no width, small
    input or stage slots, and asking for them raises ``ValueError``.
    """
    takes_classes = takes_keyword(factory, "num_classes")
    channels_of: dict[int, list[int]] = {}

    def build(
        *,
        width: float = 1.0,
        num_classes: int = 1000,
        small_input: bool = False,
        attn_layer: SlotLayer = None,
        attn_position: str = SLOT,
        stage_attn_layer: Callable[[int], nn.Module] | None = None,
    ) -> nn.Module:
        if width != 1.0 or small_input or stage_attn_layer is not None or attn_position != SLOT:
            raise ValueError(
                f"no stage slots, width multiplier or small-input variant in a model from a factory: its one "
                f"attention position is '{SLOT}' (its own SE-like modules), at its own width and input size."
            )
        model = factory(num_classes=num_classes) if takes_classes else factory()
        if not isinstance(model, nn.Module):
            raise TypeError(f"the model factory returned a {type(model).__name__}, not a torch.nn.Module.")
        slots = [n for n, _ in find_se_like(model, pattern)]
        if not slots:
            raise ValueError(
                "the model has no module of a known SE-like class; declare its slots (attn_slots = 'blocks.*.se')."
            )
        if num_classes not in channels_of:  # the structure of one factory's models does not change between calls
            example = torch.randn(1, 3, probe_size, probe_size)
            channels_of[num_classes] = slot_channels(model, slots, example)
        return place(model, attn_layer, slots, channels_of[num_classes])

    build.__doc__ = f"A backbone from {getattr(factory, '__qualname__', factory)!s}; see ``modules.swap``."
    return build


def takes_keyword(fn: Callable[..., Any], keyword: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``keyword`` (by name or through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is p.VAR_KEYWORD for p in params)


__all__ = [
    "GATE_CLASSES",
    "SE_CLASSES",
    "SLOT",
    "SwapResult",
    "attention_params",
    "class_path",
    "external_host",
    "find_se_like",
    "match_reduction",
    "place",
    "slot_channels",
    "swap_attention",
    "takes_keyword",
]
