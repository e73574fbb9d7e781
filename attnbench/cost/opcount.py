"""Op counts and peak memory of ``model(x)`` in one op-by-op pass at the dispatcher: no tracer, no second forward.

The counting convention (docs/measurement.md). The tests count every attnbench model a second way,
through fvcore's JIT tracer (``tests/fvcore_reference.py``), and require the same numbers:

- ``macs``: multiply-accumulates of convolutions, linear layers and matrix products (``conv*``, ``linear``, ``mm``,
  ``addmm``, ``bmm``, ``baddbmm``, ...; ``matmul`` and ``einsum`` through the products they run). One fused
  multiply-add = 1; a bias is free. Eval-mode BatchNorm is *not* folded into this number.
- ``elementwise_ops``: everything else that touches tensor elements:
  - reductions and global pools (``mean``, ``sum``, ``amax``, ``adaptive_avg_pool2d``, ``softmax``, ...): one per
    *input* element, so ``x.mean((2, 3))`` and ``nn.AdaptiveAvgPool2d(1)`` cost the same;
  - windowed pools (``max_pool2d``, ``avg_pool2d``): kernel area per output element;
  - activations and gates (ReLU, ReLU6, h_swish, SiLU, sigmoid, ...): one per output element;
  - broadcast multiplies and adds, residual adds: one per output element; ``addcmul`` / ``addcdiv`` two;
  - BatchNorm: one per element (in eval mode it is a per-channel affine);
  - LayerNorm, whose statistics come from its own input: mean and variance are two reductions (one per input
    element each), normalising is one per element, and the affine (weight and/or bias, one fused multiply-add) one
    more: four per element with the affine, three without (fvcore's own handle guesses five).
  - interpolation (``F.interpolate``, ``nn.Upsample``): an output element that weights ``k`` input elements is
    ``2k − 1`` ops (``k`` products, ``k − 1`` sums; the weights depend on the position only and are not counted):
    linear 3, bilinear 7, bicubic 31, trilinear 15 per output element. Nearest-neighbour upsampling copies one
    input element per output element: data movement, 0 (fvcore charges it 1 and bilinear 4 per output element).
  In-place forms (``mul_``, ``sigmoid_``, ``hardtanh_``, ...) cost what their out-of-place forms cost.
- Pure data movement (views, ``cat``, ``stack``, ``clone``, copies, padding, indexing, nearest-neighbour upsampling,
  factories, dropout) costs 0
  and is not reported. An op that touches elements and has no rule is counted in ``OpCount.unsupported``
  (``"aten::erf": 3``), never silently dropped.

Which ops the pass sees. The forward runs under ``torch.inference_mode()``, where autograd is skipped, so the
dispatch mode sees CompositeImplicitAutograd ops themselves (``conv2d``, ``linear``, ``batch_norm``,
``adaptive_avg_pool2d``, ``max_pool2d``, ``relu6``, ...) rather than their decompositions (``convolution``,
``addmm`` on a transposed view, ``native_batch_norm``, ``mean``, ``max_pool2d_with_indices``, ``hardtanh``), which is
what it sees with autograd on. ``RULES`` holds both levels. An op with a rule runs as one op with the mode off, so
the ops inside it are never counted a second time. A composite op without a rule (``matmul``, ``einsum``, ...) is
decomposed with the mode on, so the products it really runs are counted: broadcast batch dimensions included.
The one decomposition known to count differently is ``nn.Linear`` on a non-contiguous N-d input, whose bias
becomes an ``add``; under inference mode ``linear`` is always seen whole, so its bias stays free.

Attention ops are the ops executed while one of the named modules runs (forward pre/post hooks on those modules
only), nested calls included and counted once. fvcore attributes an op to the module that owns the innermost
running module; the two agree whenever each module is called from inside its owner, as in every attnbench model.
``by_operator`` is keyed by the dispatched op (``conv2d`` where fvcore says ``conv``, ``mul_`` where its trace,
with autograd on, records ``mul``); the totals are what must agree.

Peak memory on CPU, taken in the same pass: parameters + buffers
+ input + the peak total of live storages created by the dispatched ops (a storage counts from the op that
returns it until it is freed; a view of a parameter counts its storage once more). On CUDA it is
``torch.cuda.max_memory_allocated`` over the pass. ``tests/memory_reference.py`` measures it in a pass of its own.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["ELEMENTWISE", "FREE", "MAC", "RULES", "OpCount", "Rule", "count_ops"]

MAC = "mac"
ELEMENTWISE = "elementwise"

Args = Sequence[Any]
Count = Callable[[Args, dict[str, Any], Any], int]
"""A rule's count: ``(args, kwargs, output) -> int`` for one call of the op, from shapes only."""


@dataclass(frozen=True)
class Rule:
    """How one op is counted: which total it adds to, and how much per call."""

    kind: str
    """``MAC`` or ``ELEMENTWISE``."""
    count: Count


def _arg(args: Args, kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _first_tensor(value: Any) -> torch.Tensor:
    # Ops such as max.dim, adaptive_max_pool2d and max_pool2d_with_indices return (values, indices).
    return value[0] if isinstance(value, (tuple, list)) else value


def _per_output(scale: int) -> Count:
    return lambda args, kwargs, out: scale * _first_tensor(out).numel()


def _per_input(args: Args, kwargs: dict[str, Any], out: Any) -> int:
    return args[0].numel()


def _windowed(dims: int) -> Count:
    def count(args: Args, kwargs: dict[str, Any], out: Any) -> int:
        kernel = _arg(args, kwargs, 1, "kernel_size")
        kernel = [kernel] if isinstance(kernel, int) else list(kernel)
        if len(kernel) == 1:  # torch expands a single size to every spatial dimension
            kernel = kernel * dims
        return math.prod(kernel) * _first_tensor(out).numel()

    return count


def _conv(transposed: bool | None) -> Count:
    """Batch × weight elements × output positions (input positions when transposed), as fvcore's conv count.

    ``transposed=None`` reads the flag from the op's arguments (``convolution`` and ``_convolution``).
    """

    def count(args: Args, kwargs: dict[str, Any], out: Any) -> int:
        x, w = args[0], args[1]
        flag = bool(_arg(args, kwargs, 6, "transposed")) if transposed is None else transposed
        spatial = w.dim() - 2
        batch = x.shape[0] if x.dim() == spatial + 2 else 1  # the functional convs also take unbatched input
        positions = (x if flag else _first_tensor(out)).shape[x.dim() - spatial :]
        return batch * w.numel() * math.prod(positions)

    return count


def _products(a_index: int) -> Count:
    """``A @ B`` for ``A`` (…, m, k) and ``B`` (…, k, n) at ``a_index``, ``a_index + 1``: the products only."""
    return lambda args, kwargs, out: args[a_index].numel() * args[a_index + 1].shape[-1]


def _linear(args: Args, kwargs: dict[str, Any], out: Any) -> int:
    weight = args[1]
    return args[0].numel() * (weight.shape[0] if weight.dim() == 2 else 1)


def _matrix_vector(m_index: int) -> Count:
    return lambda args, kwargs, out: args[m_index].numel()


def _layer_norm(args: Args, kwargs: dict[str, Any], out: Any) -> int:
    affine = _arg(args, kwargs, 2, "weight") is not None or _arg(args, kwargs, 3, "bias") is not None
    return (4 if affine else 3) * args[0].numel()


def _inplace_too(*names: str) -> tuple[str, ...]:
    return tuple(n + suffix for n in names for suffix in ("", "_"))


# relu6 is F.relu6; nn.ReLU6 and nn.Hardtanh dispatch hardtanh (hardtanh_ when inplace=True).
_PER_OUTPUT_NAMES = _inplace_too(
    "mul",
    "add",
    "sub",
    "div",
    "sigmoid",
    "hardswish",
    "hardsigmoid",
    "relu",
    "relu6",
    "hardtanh",
    "silu",
    "clamp",
    "clamp_min",
    "clamp_max",
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
# AdaptiveAvgPool2d is adaptive_avg_pool2d under inference mode; with autograd on, mean for a 1x1 output and
# _adaptive_avg_pool2d for others.
_PER_INPUT_NAMES = (
    "mean",
    "sum",
    "amax",
    "amin",
    "max",
    "min",
    "softmax",
    "_softmax",
    "adaptive_avg_pool2d",
    "_adaptive_avg_pool2d",
    "adaptive_max_pool2d",
)
# batch_norm is seen whole under inference mode; the rest are what it decomposes to on each backend and torch version.
_BATCH_NORM_NAMES = (
    "batch_norm",
    "_batch_norm_impl_index",
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training",
    "_batch_norm_no_update",
    "_batch_norm_with_update",
    "cudnn_batch_norm",
    "miopen_batch_norm",
)

_RULE_SPEC: tuple[tuple[str, Count, tuple[str, ...]], ...] = (
    # Convolutions: conv{1,2,3}d / conv_transpose* are what inference mode shows, convolution what autograd shows.
    (MAC, _conv(False), ("conv1d", "conv2d", "conv3d")),
    (MAC, _conv(True), ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")),
    (MAC, _conv(None), ("convolution", "_convolution")),
    # Linear layers and matrix products. linear is seen whole under inference mode, addmm/mm (on weight.t()) else.
    (MAC, _linear, ("linear",)),
    (MAC, _products(0), ("mm", "bmm")),
    (MAC, _products(1), ("addmm", "baddbmm", "addbmm")),
    (MAC, _matrix_vector(0), ("dot", "vdot", "mv")),
    (MAC, _matrix_vector(1), ("addmv",)),
    # Activations, gates and broadcast arithmetic; reductions and global pools; windowed pools; BatchNorm; LayerNorm.
    (ELEMENTWISE, _per_output(1), _PER_OUTPUT_NAMES),
    (ELEMENTWISE, _per_output(2), _inplace_too("addcmul", "addcdiv")),
    (ELEMENTWISE, _per_input, _PER_INPUT_NAMES),
    (ELEMENTWISE, _windowed(2), ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d")),
    (ELEMENTWISE, _per_input, _BATCH_NORM_NAMES),
    # layer_norm is seen whole under inference mode, native_layer_norm (what it decomposes to) with autograd on.
    (ELEMENTWISE, _layer_norm, ("layer_norm", "native_layer_norm")),
    # Interpolation: 2k - 1 per output element for k weighted input elements (the .vec overloads are the same
    # packets; F.interpolate dispatches them).
    (ELEMENTWISE, _per_output(3), ("upsample_linear1d",)),
    (ELEMENTWISE, _per_output(7), ("upsample_bilinear2d",)),
    (ELEMENTWISE, _per_output(31), ("upsample_bicubic2d",)),
    (ELEMENTWISE, _per_output(15), ("upsample_trilinear3d",)),
)

_FREE_NAMES = (
    # Copies and layout changes (views are free without being listed: their schema says so).
    "cat",
    "stack",
    "clone",
    "copy_",
    "_to_copy",
    "_unsafe_view",
    "constant_pad_nd",
    "reflection_pad1d",
    "reflection_pad2d",
    "reflection_pad3d",
    "replication_pad1d",
    "replication_pad2d",
    "replication_pad3d",
    "repeat",
    "roll",
    "flip",
    "index",
    "_unsafe_index",
    "index_select",
    "gather",
    "index_put",
    "index_put_",
    "masked_fill",
    "masked_fill_",
    "where",
    "fill",
    "fill_",
    "zero_",
    # Nearest-neighbour upsampling: one input element copied to each output element.
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d",
    "_upsample_nearest_exact3d",
    # In-place metadata changes: the view ops' in-place forms.
    "detach_",
    "squeeze_",
    "unsqueeze_",
    "transpose_",
    "t_",
    "as_strided_",
    "resize_",
    "set_",
    # Factories and scalars.
    "empty",
    "empty_like",
    "empty_strided",
    "zeros",
    "zeros_like",
    "ones",
    "ones_like",
    "full",
    "full_like",
    "new_empty",
    "new_empty_strided",
    "new_zeros",
    "new_ones",
    "new_full",
    "arange",
    "scalar_tensor",
    "_local_scalar_dense",
    # Dropout: identity in eval, and free by the convention in training too (as fvcore's ignore list has it).
    "dropout",
    "dropout_",
    "feature_dropout",
    "alpha_dropout",
    "native_dropout",
)


def _packets(names: Iterable[str]) -> list[torch._ops.OpOverloadPacket]:
    # getattr with a default: the supported torch range (pyproject) lacks some of the newer batch-norm ops.
    found = (getattr(torch.ops.aten, name, None) for name in names)
    return [p for p in found if p is not None]


RULES: dict[torch._ops.OpOverloadPacket, Rule] = {
    packet: Rule(kind, count) for kind, count, names in _RULE_SPEC for packet in _packets(names)
}
"""The single op table: dispatch op overload packet (all overloads and ``out=`` forms) → rule."""

FREE: frozenset[torch._ops.OpOverloadPacket] = frozenset(_packets(_FREE_NAMES))
"""Data-movement ops that cost nothing, in addition to every view op."""


@dataclass(frozen=True)
class OpCount:
    """Op counts and peak memory of one inference forward, under the convention above."""

    macs: int
    elementwise_ops: int
    attn_macs: int
    attn_elementwise_ops: int
    by_operator: dict[str, int] = field(default_factory=dict)
    """Op name without namespace (``conv2d``, ``mul_``, ``batch_norm``) → its count, whole model."""
    unsupported: dict[str, int] = field(default_factory=dict)
    """Ops that touch elements but have no rule (``aten::erf``) → number of calls."""
    peak_mem_bytes: int = 0


_COMPOSITE = torch._C.DispatchKey.CompositeImplicitAutograd


def _is_composite(func: torch._ops.OpOverload) -> bool:
    return torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), _COMPOSITE)


class _Pass(TorchDispatchMode):
    """Counts every dispatched op, attributes it to attention or not, and tracks live intermediate storages."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in a dynamo-disable whose first call imports torch._dynamo
        # (about 2.5 s of CPU per process here). This pass runs only in eager inspection, never under compile.
        return False

    def __init__(self, track_memory: bool) -> None:
        super().__init__()
        self.totals: Counter[str] = Counter()
        self.attn_totals: Counter[str] = Counter()
        self.by_operator: Counter[str] = Counter()
        self.unsupported: Counter[str] = Counter()
        self.attn_depth = 0
        self.decompose_depth = 0
        self.track_memory = track_memory
        # As measure._LiveTensorBytes: storage id → (weak ref, bytes) of storages returned by dispatched ops.
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.current = 0
        self.peak = 0

    def enter_attention(self, *_: Any) -> None:
        self.attn_depth += 1

    def leave_attention(self, *_: Any) -> None:
        self.attn_depth -= 1

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        packet = func.overloadpacket
        rule = RULES.get(packet)
        if rule is not None:
            out = func(*args, **kwargs)
            self._record(rule.kind, packet.__name__, rule.count(args, kwargs, out))
        elif func.is_view or packet in FREE:
            out = func(*args, **kwargs)
        elif _is_composite(func):
            # Run the decomposition with this mode on, so its pieces are counted; only the composite's own outputs
            # enter the memory account, as when the op runs whole (the view of the separate memory pass in tests/memory_reference.py). The C++ kernel, not
            # func.decompose(): that prefers the Python decompositions torch registers for tracing (matmul,
            # upsample_*), which are not what eager runs.
            self.decompose_depth += 1
            try:
                with self:
                    out = func._op_dk(_COMPOSITE, *args, **kwargs)
            finally:
                self.decompose_depth -= 1
        else:
            self.unsupported[f"{func.namespace}::{packet.__name__}"] += 1
            out = func(*args, **kwargs)
        if self.track_memory and not self.decompose_depth:
            self._track(out)
        return out

    def _record(self, kind: str, name: str, n: int) -> None:
        self.totals[kind] += n
        self.by_operator[name] += n
        if self.attn_depth:
            self.attn_totals[kind] += n

    def _track(self, out: Any) -> None:
        # The same bookkeeping as measure._LiveTensorBytes, so both give the same peak.
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.current -= self.live.pop(key)[1]
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage._cdata
                if key not in self.live:
                    self.live[key] = (StorageWeakRef(storage), storage.nbytes())
                    self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)


def count_ops(model: nn.Module, x: torch.Tensor, attn_names: Iterable[str] = ()) -> OpCount:
    """Count MACs, element-wise ops and peak memory of ``model(x)`` in one ``torch.inference_mode()`` forward.

    Args:
        model: the network, in the mode it is to be counted in (eval for inference).
        x: an example input.
        attn_names: qualified names of the attention modules (from ``modules.find_attention``); their ops, and
            those of the modules they call, form ``attn_macs`` and ``attn_elementwise_ops``.

    Raises:
        ValueError: a name in ``attn_names`` is not a submodule of ``model``.
    """
    named = dict(model.named_modules())
    names = list(dict.fromkeys(attn_names))
    missing = [n for n in names if n not in named]
    if missing:
        raise ValueError(f"no submodule named {', '.join(map(repr, missing))} in {type(model).__name__}")
    on_cuda = x.device.type == "cuda"
    counter = _Pass(track_memory=not on_cuda)
    handles = []
    for mod in {id(named[n]): named[n] for n in names}.values():  # a module shared under two names is hooked once
        handles.append(mod.register_forward_pre_hook(counter.enter_attention))
        handles.append(mod.register_forward_hook(counter.leave_attention, always_call=True))
    try:
        if on_cuda:
            torch.cuda.synchronize(x.device)
            torch.cuda.reset_peak_memory_stats(x.device)
        with torch.inference_mode(), counter:
            model(x)
        if on_cuda:
            torch.cuda.synchronize(x.device)
            peak = int(torch.cuda.max_memory_allocated(x.device))
        else:
            resident = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers(), x))
            peak = int(resident + counter.peak)
    finally:
        for handle in handles:
            handle.remove()
    return OpCount(
        macs=counter.totals[MAC],
        elementwise_ops=counter.totals[ELEMENTWISE],
        attn_macs=counter.attn_totals[MAC],
        attn_elementwise_ops=counter.attn_totals[ELEMENTWISE],
        by_operator=dict(sorted(counter.by_operator.items())),
        unsupported=dict(sorted(counter.unsupported.items())),
        peak_mem_bytes=peak,
    )
