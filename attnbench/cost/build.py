"""Turn a spec into models and inputs: backbone + attention factory, seeded weights, eval mode, device and dtype."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .. import modules
from ..errors import InsertionError
from .opcount import OpCount, count_ops
from .reduction import kwargs_for
from .shape import input_hw
from .spec import DTYPES, ProfileSpec


def _what(exc: BaseException) -> str:
    """``Type: message``, or the type alone when the message is empty (``MemoryError``)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def build_model(spec: ProfileSpec, name: str) -> nn.Module:
    """Build ``spec.backbone`` with attention ``name``, seeded, in eval mode on ``spec.device``/``spec.dtype``."""
    torch.manual_seed(spec.seed)
    where = _where(spec)
    try:
        model = modules.create_model(
            spec.backbone,
            name,
            width=spec.width,
            num_classes=spec.classes,
            position=spec.position,
            small_input=spec.small_input,
            attn_kwargs=kwargs_for(spec, name),
            head=spec.head,
            output_stride=spec.stride,
            head_slots=spec.head_slots,
        )
    except torch.cuda.OutOfMemoryError:
        raise  # a resource failure of this configuration, not an insertion problem: the runner records it
    except Exception as exc:  # the module's own constructor may raise anything (a plugin's AttributeError, ...)
        raise InsertionError(f"module '{name}' cannot be built into {where}: {_what(exc)}") from exc
    if spec.weights is not None and modules.find_attention(model):  # the baseline has no CA layers to load
        from .weights import load_ca_checkpoint

        load_ca_checkpoint(model, spec.weights)
    return model.eval().to(device=spec.device, dtype=DTYPES[spec.dtype])


def _where(spec: ProfileSpec) -> str:
    head = f" under head '{spec.head}'" if spec.head else ""
    return f"'{spec.backbone}' at position '{spec.position or 'default'}'{head}"


def output_shape(spec: ProfileSpec, model: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    """The output shape a well-built model gives: ``batch × classes``, or what its dense head declares."""
    declared = getattr(model, "output_shape", None)
    return tuple(declared(tuple(x.shape))) if callable(declared) else (spec.batch, spec.classes)


def inspect_model(spec: ProfileSpec, name: str, model: nn.Module, x: torch.Tensor) -> OpCount:
    """The model's one instrumented forward: op counts and peak memory, and the check that it is well built.

    Every attention module must keep its input's shape and the network must give ``batch × classes`` (a dense
    model: the shape its head declares); a module that fails inside the network, or breaks either rule, raises
    ``InsertionError`` naming it.
    """
    where = _where(spec)
    attn = modules.find_attention(model)
    changed: list[str] = []
    outputs: list[object] = []

    def keeps_shape(mod_name: str) -> Callable[..., None]:
        def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if not isinstance(out, torch.Tensor) or out.shape != inputs[0].shape:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                changed.append(f"{mod_name} maps {tuple(inputs[0].shape)} to {shape}")

        return hook

    handles = [m.register_forward_hook(keeps_shape(n)) for n, m in attn]
    handles.append(model.register_forward_hook(lambda _m, _i, out: outputs.append(out)))
    try:
        ops = count_ops(model, x, [n for n, _ in attn])
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as exc:  # the module's own forward may raise anything (a plugin's KeyError, IndexError, ...)
        raise InsertionError(f"module '{name}' fails inside {where}: {_what(exc)}") from exc
    finally:
        for h in handles:
            h.remove()
    if changed:
        raise InsertionError(f"module '{name}' must keep its input shape, but {changed[0]}.")
    y = outputs[-1] if outputs else None
    shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
    if shape != output_shape(spec, model, x):
        raise InsertionError(f"module '{name}' inside {where} gives output {shape}; it must keep shapes.")
    return ops


def make_input(spec: ProfileSpec) -> torch.Tensor:
    """The seeded input batch, ``batch × 3 × height × width``."""
    g = torch.Generator().manual_seed(spec.seed)
    x = torch.randn(spec.batch, 3, *input_hw(spec.input_size), generator=g)
    return x.to(device=spec.device, dtype=DTYPES[spec.dtype])
