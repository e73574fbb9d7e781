"""Backbones named by a reference instead of a registry key: a model factory in a Python file, or a timm or
torchvision model.

- ``PATH.py:FACTORY``: ``FACTORY()`` from the file ``PATH.py`` returns a ``torch.nn.Module`` (it gets
  ``num_classes`` when it takes that keyword). The file is executed as Python code, as ``--plugins`` files are: name
  only files you trust.
- ``timm:NAME``: ``timm.create_model(NAME, num_classes=...)``.
- ``torchvision:NAME``: ``torchvision.models.get_model(NAME, num_classes=...)``.

Such a network's SE-like modules are its attention slots (``modules.swap``: the known classes of torchvision and
timm, or the names the model declares in ``attn_slots``). The first time a reference is named, :func:`resolve` builds
the model once, finds its slots and registers the reference in ``BACKBONES`` (``Registry.register_reference``) with
what it found: ``se`` then keeps the network's own modules when they are squeeze-and-excitation (as in the built-in
MobileNetV3 and EfficientNet), ``none`` removes them and any other module replaces them. The reference stays the
backbone's name in every row.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from . import modules
from .errors import BackboneUnavailableError, PluginError, UsageError

_FILE = re.compile(r"^(?P<path>.+\.py):(?P<factory>[A-Za-z_][A-Za-z0-9_]*)$")
PACKAGES = ("timm", "torchvision")


def is_reference(name: str) -> bool:
    """Whether ``name`` is a reference (``SOURCE:NAME``) rather than a registry key."""
    return ":" in name


def resolve(name: str) -> None:
    """Register the backbone reference ``name`` if it is one and not yet registered (module docstring).

    Raises:
        UsageError: a reference that is not of the three forms, an unknown model name.
        BackboneUnavailableError: ``timm`` or ``torchvision`` does not import.
        PluginError: the file cannot be imported, has no such factory, or its model has no SE-like module.
    """
    if is_reference(name) and name not in modules.BACKBONES:
        _register(name, _factory(name))


def register_factory(
    factory: Callable[..., nn.Module], name: str | None = None, pattern: str | Sequence[str] | None = None
) -> str:
    """Register a model factory of the caller's as a backbone; returns its name (``python:module.qualname`` unless
    ``name`` gives one, which must read ``SOURCE:NAME``). ``pattern`` names the slots (``modules.swap.find_se_like``)
    instead of the known classes. A name registered before keeps its first factory."""
    name = name or f"python:{getattr(factory, '__module__', '')}.{getattr(factory, '__qualname__', repr(factory))}"
    if name not in modules.BACKBONES:
        _register(name, factory, pattern)
    return name


def _register(name: str, factory: Callable[..., nn.Module], pattern: str | Sequence[str] | None = None) -> None:
    from .modules import swap

    try:
        model = factory(num_classes=1000) if swap.takes_keyword(factory, "num_classes") else factory()
    except Exception as exc:  # the user's code: any failure is one line naming it
        raise PluginError(f"backbone '{name}': building the model failed ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(model, nn.Module):
        raise PluginError(f"backbone '{name}' returned a {type(model).__name__}, not a torch.nn.Module.")
    found = swap.find_se_like(model, pattern)
    if not found:
        raise PluginError(
            f"backbone '{name}' has no module of a known SE-like class; name its slots, e.g. "
            "model.attn_slots = 'blocks.*.gate' in the factory (qualified module names or fnmatch patterns)."
        )
    classes = Counter(type(m).__name__ for _, m in found)
    modules.BACKBONES.register_reference(
        name,
        swap.external_host(factory, pattern),
        paper=f"{name}: a network attnbench did not build; its own SE-like modules are the slots",
        arxiv="",
        reference=name,
        positions=(swap.SLOT,),
        stage_slot="",
        width_range=(1.0, 1.0),
        min_input=32,
        min_input_small=None,
        own_attention=", ".join(f"{count} × {cls}" for cls, count in classes.items()),
        native_attention="se" if all(swap.is_se(m) for _, m in found) else "",
        native_reduction=None,
    )


def _factory(name: str) -> Callable[..., nn.Module]:
    source, _, model = name.partition(":")
    if source in PACKAGES:
        return _package_factory(name, source, model)
    m = _FILE.fullmatch(name)
    if m is None:
        raise UsageError(
            f"backbone '{name}' is neither a registered name nor a reference; use PATH.py:FACTORY, timm:NAME or "
            "torchvision:NAME."
        )
    from .plugins import load_file

    path = Path(m["path"])
    if not path.is_file():
        raise PluginError(f"backbone '{name}': the file '{path}' does not exist.")
    module = load_file(path.resolve())
    fn = getattr(module, m["factory"], None)
    if not callable(fn):
        found = sorted(
            k for k, v in vars(module).items() if callable(v) and getattr(v, "__module__", "") == module.__name__
        )
        raise PluginError(
            f"backbone '{name}': '{path}' defines no function '{m['factory']}'; it defines: {', '.join(found) or 'none'}."
        )
    return fn


def _package_factory(name: str, package: str, model: str) -> Callable[..., nn.Module]:
    """``num_classes -> model`` for ``timm:NAME`` / ``torchvision:NAME``; the package is imported here."""
    try:
        lib: Any = __import__(package) if package == "timm" else __import__("torchvision.models").models
    except Exception as exc:  # ImportError, or torchvision's C library failing to load beside this torch
        import torch

        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise BackboneUnavailableError(
            f"backbone '{name}' needs {package}, which does not import here ({reason}); install {package} with a "
            f"torchvision built for torch {torch.__version__}."
        ) from None
    names = lib.list_models()
    if model not in names:
        import difflib

        close = difflib.get_close_matches(model, names, n=1)
        hint = f" Did you mean '{package}:{close[0]}'?" if close else ""
        raise UsageError(f"{package} has no model '{model}'.{hint}")
    if package == "timm":
        return lambda num_classes=1000: lib.create_model(model, num_classes=num_classes)
    return lambda num_classes=1000: lib.get_model(model, num_classes=num_classes)
