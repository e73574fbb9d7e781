"""An independent count under attnbench's convention through fvcore's JIT tracer: the cross-check of
``attnbench.cost.opcount`` (the library counts in one dispatch pass and never traces). Tests only.

Two numbers per model, both raw counts:

- ``macs``: multiply-accumulates of convolutions, linear layers and matrix products. One fused multiply-add = 1,
  the convention of papers' "MAdds" and of fvcore (``torch.utils.flop_counter.FlopCounterMode`` reports 2 per MAC;
  the tests check the two agree). Eval-mode BatchNorm is *not* folded into this number.
- ``elementwise_ops``: everything else that touches tensor elements, which MAC counters drop and which is most of
  an attention block's cost:
  - reductions and global pools (``mean``, ``sum``, ``amax``, ``adaptive_avg_pool2d``, ...): one per input element,
    so ``x.mean((2, 3))`` and ``nn.AdaptiveAvgPool2d(1)`` cost the same;
  - windowed pools (``max_pool2d``, ``avg_pool2d``): kernel area per output element;
  - activations and gates (ReLU, ReLU6, h_swish, SiLU, sigmoid, ...): one per output element;
  - broadcast multiplies and adds, residual adds: one per output element; ``addcmul`` (``a + b·c``) two;
  - eval-mode BatchNorm: one per element (it is a per-channel affine);
  - LayerNorm: mean and variance (two reductions), normalising, and the affine when it has one: four per element,
    three without (fvcore's own handle estimates five).
  - interpolation: an output element that weights k input elements costs 2k − 1 (bilinear 7, bicubic 31).
  Pure data movement (``cat``, ``view``, ``split``, ``permute``, ``dropout`` in eval, nearest-neighbour
  upsampling) costs nothing.

Ops the table does not know are returned in ``FlopCount.unsupported`` (op name → occurrences) and shown to the
user; they are never only logged.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS
from fvcore.nn.jit_analysis import JitModelAnalysis
from fvcore.nn.jit_handles import get_shape
from torch import nn

Handle = Callable[[list[Any], list[Any]], int]

MAC_OPS = (
    "aten::_convolution",
    "aten::addmm",
    "aten::linear",
    "aten::matmul",
    "aten::mm",
    "aten::bmm",
    "aten::einsum",
    "aten::baddbmm",
)

_PER_OUTPUT = (
    "mul",
    "add",
    "sub",
    "div",
    "sigmoid",
    "hardswish",
    "hardsigmoid",
    "relu",
    "hardtanh",
    "silu",
    "clamp",
    "gelu",
    "tanh",
    "leaky_relu",
    "elu",
    "rsub",
    "neg",
    "exp",
    "sqrt",
    "rsqrt",
    "pow",
    "minimum",
    "maximum",
)
_PER_INPUT = ("mean", "sum", "amax", "amin", "max", "min", "adaptive_avg_pool2d", "adaptive_max_pool2d", "softmax")
_WINDOWED = ("max_pool2d", "avg_pool2d")


def _numel(val: Any) -> int:
    shape = get_shape(val)
    return math.prod(shape) if shape else 0


def _per_output(scale: int = 1) -> Handle:
    return lambda inputs, outputs: scale * _numel(outputs[0])


def _per_input(inputs: list[Any], outputs: list[Any]) -> int:
    return _numel(inputs[0])


def _int_list(val: Any) -> list[int]:
    """A traced int-list argument (constant, or built by prim::ListConstruct from constants)."""
    value = val.toIValue()
    if value is None and val.node().kind() == "prim::ListConstruct":
        value = [v.toIValue() for v in val.node().inputs()]
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)] * 2


def _windowed(inputs: list[Any], outputs: list[Any]) -> int:
    return math.prod(_int_list(inputs[1])) * _numel(outputs[0])


def _layer_norm(inputs: list[Any], outputs: list[Any]) -> int:
    """``aten::layer_norm(input, normalized_shape, weight, bias, eps, cudnn_enable)``."""
    affine = get_shape(inputs[2]) is not None or get_shape(inputs[3]) is not None
    return (4 if affine else 3) * _numel(inputs[0])


def _with_inplace(names: Iterable[str], handle: Handle) -> dict[str, Handle]:
    return {f"aten::{n}{suffix}": handle for n in names for suffix in ("", "_")}


def _baddbmm(inputs: list[Any], outputs: list[Any]) -> int:
    """``bias + A @ B``: the products only, as fvcore counts ``addmm`` and a conv's bias (free)."""
    b, m, k = get_shape(inputs[1])
    return b * m * k * get_shape(inputs[2])[-1]


HANDLES: dict[str, Handle | None] = {
    **{op: _DEFAULT_SUPPORTED_OPS[op] for op in MAC_OPS if op != "aten::baddbmm"},
    "aten::baddbmm": _baddbmm,
    **_with_inplace(_PER_OUTPUT, _per_output(1)),
    **_with_inplace(("addcmul", "addcdiv"), _per_output(2)),
    **_with_inplace(_PER_INPUT, _per_input),
    **_with_inplace(_WINDOWED, _windowed),
    "aten::batch_norm": _per_output(1),
    "aten::layer_norm": _layer_norm,
    "aten::upsample_linear1d": _per_output(2 * 2 - 1),
    "aten::upsample_bilinear2d": _per_output(2 * 4 - 1),
    "aten::upsample_bicubic2d": _per_output(2 * 16 - 1),
    "aten::upsample_trilinear3d": _per_output(2 * 8 - 1),
    **{f"aten::upsample_nearest{d}d": None for d in (1, 2, 3)},
}
"""The single op-handle table: aten op name → count function (fvcore handle signature); ``None``: free."""


@dataclass(frozen=True)
class FlopCount:
    """Op counts of one forward pass under the convention above."""

    macs: int
    elementwise_ops: int
    attn_macs: int
    attn_elementwise_ops: int
    by_operator: dict[str, int] = field(default_factory=dict)
    unsupported: dict[str, int] = field(default_factory=dict)


def _split(counts: Counter[str] | dict[str, int]) -> tuple[int, int]:
    mac_names = {op.split("::")[1] for op in MAC_OPS} | {"conv", "linear"}
    macs = sum(v for k, v in counts.items() if k in mac_names)
    return int(macs), int(sum(counts.values()) - macs)


def count_flops(model: nn.Module, x: torch.Tensor, attn_names: Iterable[str] = ()) -> FlopCount:
    """Count MACs and element-wise ops of ``model(x)``, in total and inside the modules named ``attn_names``.

    Args:
        model: the network, in the mode it is to be counted in (eval for inference).
        x: an example input.
        attn_names: qualified names of the attention modules (from ``modules.find_attention``).
    """
    analysis = JitModelAnalysis(model, (x,)).set_op_handle(**HANDLES)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_op = analysis.by_operator()
        by_mod_op = analysis.by_module_and_operator()
        unsupported = analysis.unsupported_ops()
    macs, elementwise = _split(by_op)
    attn = Counter[str]()
    for name in attn_names:
        attn.update(by_mod_op.get(name, {}))
    attn_macs, attn_elementwise = _split(attn)
    return FlopCount(
        macs=macs,
        elementwise_ops=elementwise,
        attn_macs=attn_macs,
        attn_elementwise_ops=attn_elementwise,
        by_operator={k: int(v) for k, v in sorted(by_op.items())},
        unsupported={k: int(v) for k, v in sorted(unsupported.items())},
    )
