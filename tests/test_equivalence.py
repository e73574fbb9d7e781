"""Every registered attention module equals its paper-derived reference (tests/reference.py), with the same weights.

- Forward, float32, max |library − reference| ≤ 1e-5, train and eval mode, on odd, H ≠ W, 1×1, batch-1 and batch > 1
  shapes, for contiguous, channels_last and non-contiguous (strided view) inputs. In train mode the updated BN
  running statistics must match too.
- float64: the same comparison at 1e-10, and ``torch.autograd.gradcheck`` w.r.t. the input (eval and train mode)
  and w.r.t. every parameter (eval mode, through ``torch.func.functional_call``).
- Backward in train mode: the library's input and parameter gradients equal the reference's (1e-5), with the input,
  the parameters or both requiring grad, so an in-place fast path that corrupts autograd fails here.
- Under ``torch.no_grad()`` / ``torch.inference_mode()`` (where in-place fast paths run) the output equals the
  grad-enabled output and the caller's tensor is never modified.

The module list is ``M.ATTENTION.names()`` minus the "none" baseline, so a newly registered module is covered
automatically, and fails loudly until a reference is added to ``REFERENCES``.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import attnbench.modules as M


def _load_reference():
    # Loaded by path under a unique name so it works whether or not tests/ is a package.
    name = "attnbench_tests_reference"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("reference.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


R = _load_reference()

REFERENCES = R.REFERENCES

# Registry key -> reason, for a library implementation known to disagree with its reference (strict xfail, so
# the mark has to go once it is fixed). Empty: every module agrees.
KNOWN_DISAGREEMENTS: dict[str, str] = {}

# Modules without weights by design (SimAM's gate is a closed-form energy): no parameter gradcheck for them.
PARAMETER_FREE = {"simam"}

NAMES = [n for n in M.ATTENTION.names() if n != "none"]
NAME_PARAMS = [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DISAGREEMENTS[n]))
    if n in KNOWN_DISAGREEMENTS
    else n
    for n in NAMES
]

ATOL32 = 1e-5
ATOL64 = 1e-10

# (N, C, H, W), memory layout. "strided": a non-contiguous view (every other column of a wider tensor).
SHAPES = [
    pytest.param((2, 32, 7, 5), "contiguous", id="2x32x7x5"),
    pytest.param((1, 48, 9, 13), "contiguous", id="1x48x9x13"),
    pytest.param((3, 16, 1, 1), "contiguous", id="3x16x1x1"),
    pytest.param((1, 16, 1, 1), "contiguous", id="1x16x1x1"),  # train-mode BN with one value per channel
    pytest.param((2, 24, 28, 28), "contiguous", id="2x24x28x28"),
    pytest.param((2, 32, 7, 5), "channels_last", id="2x32x7x5-cl"),
    pytest.param((1, 48, 9, 13), "channels_last", id="1x48x9x13-cl"),
    pytest.param((2, 32, 7, 5), "strided", id="2x32x7x5-strided"),
]
GRAD_SHAPES = [
    pytest.param((2, 32, 7, 5), "contiguous", id="2x32x7x5"),
    pytest.param((1, 48, 9, 13), "channels_last", id="1x48x9x13-cl"),
    pytest.param((3, 16, 1, 1), "strided", id="3x16x1x1-strided"),
]
TINY = (2, 32, 3, 2)  # gradcheck shape: C=32 keeps every r=16 bottleneck at 2 channels, not a degenerate 1; H ≠ W


# ----------------------------------------------------------------------------------------------- helpers
def reference_for(name: str) -> Callable[..., Tensor]:
    if name not in REFERENCES:
        pytest.fail(
            f"attention module '{name}' is registered but has no reference formulation: write one from its paper's "
            f"equations in tests/reference.py and map '{name}' to it in REFERENCES in tests/test_equivalence.py. "
            "No module ships without an oracle."
        )
    return REFERENCES[name]


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def build(name: str, channels: int, seed: int, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The library module with randomised BN statistics/affine and non-zero biases, so eval mode is not trivial."""
    with torch.random.fork_rng():  # seeded construction without disturbing the global RNG of other tests
        torch.manual_seed(seed)
        m = M.create_attention(name, channels).to(dtype)
    sd = m.state_dict()
    bn_prefixes = {k[: -len(".running_mean")] for k in sd if k.endswith(".running_mean")}
    with torch.no_grad():
        for key, t in sd.items():
            prefix = key.rsplit(".", 1)[0]
            if key.endswith(".running_mean"):
                t.normal_(0.0, 0.5)
            elif key.endswith(".running_var"):
                t.uniform_(0.5, 2.0)
            elif key.endswith(".num_batches_tracked"):
                t.fill_(7)
            elif prefix in bn_prefixes and key.endswith(".weight"):
                t.uniform_(0.5, 1.5)
            elif key.endswith(".bias"):  # BN shift and conv/linear biases alike
                t.normal_(0.0, 0.3)
    return m


def make_input(shape: tuple[int, ...], layout: str, seed: int, dtype: torch.dtype = torch.float32) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    if layout == "strided":
        x = torch.randn(n, c, h, 2 * w, generator=g, dtype=dtype)[..., ::2]
        assert not x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last)
        return x
    x = torch.randn(shape, generator=g, dtype=dtype)
    return x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x


def max_diff(a: Tensor, b: Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != {tuple(b.shape)}"
    return (a.detach() - b.detach()).abs().max().item() if a.numel() else 0.0


def assert_close(actual: Tensor, expected: Tensor, atol: float, what: str) -> None:
    d = max_diff(actual, expected)
    assert d <= atol, f"{what}: max |library - reference| = {d:.3e} > {atol:.0e}"


def assert_close_scaled(actual: Tensor, expected: Tensor, tol: float, scale: float, what: str) -> None:
    """``max |a - e| <= tol * scale``."""
    d = max_diff(actual, expected)
    assert d <= tol * scale, f"{what}: max |library - reference| = {d:.3e} > {tol:.0e} x {scale:.3g}"


def assert_same_buffers(lib: nn.Module, ref: nn.Module, atol: float, what: str) -> None:
    """BN running statistics (and batch counters) after the forward are the same on both sides."""
    lb, rb = dict(lib.named_buffers()), dict(ref.named_buffers())
    assert lb.keys() == rb.keys()
    for k, buf in lb.items():
        if buf.is_floating_point():
            assert_close(buf, rb[k], atol, f"{what}: buffer '{k}'")
        else:
            assert torch.equal(buf, rb[k]), f"{what}: buffer '{k}' is {buf.tolist()}, reference {rb[k].tolist()}"


def buffers_changed(before: nn.Module, after: nn.Module) -> bool:
    a, b = dict(before.named_buffers()), dict(after.named_buffers())
    return any(not torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------------------------- coverage
def test_every_registered_module_has_a_reference() -> None:
    missing = [n for n in NAMES if n not in REFERENCES]
    assert not missing, (
        f"registered attention modules without a reference formulation: {missing}. Write each from its paper in "
        "tests/reference.py and map it in REFERENCES (tests/test_equivalence.py)."
    )


def test_no_stale_references() -> None:
    stale = sorted(set(REFERENCES) - set(NAMES))
    assert not stale, f"REFERENCES maps names that are not registered: {stale}"
    assert set(KNOWN_DISAGREEMENTS) <= set(NAMES), "KNOWN_DISAGREEMENTS names an unregistered module"


def test_baseline_is_identity() -> None:
    assert isinstance(M.create_attention("none", 16), nn.Identity)


# ----------------------------------------------------------------------------------------------- forward
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("shape,layout", SHAPES)
@pytest.mark.parametrize("name", NAME_PARAMS)
def test_forward_matches_reference(name: str, shape: tuple[int, ...], layout: str, mode: str) -> None:
    ref_fn = reference_for(name)
    seed = _seed(name, shape, layout)
    lib = build(name, shape[1], seed).train(mode == "train")
    ref = copy.deepcopy(lib)  # same weights and statistics; each side updates its own running stats
    start = copy.deepcopy(lib)
    x = make_input(shape, layout, seed)
    x_before = x.clone()
    with torch.no_grad():  # the fast (possibly in-place) inference path
        y = lib(x)
        y_ref = ref_fn(ref, x)
    assert torch.equal(x, x_before), "the library modified its input tensor"
    assert y.shape == x.shape
    assert y.dtype == torch.float32
    assert_close(y, y_ref, ATOL32, f"{name} {mode} {shape} {layout} output")
    assert_same_buffers(lib, ref, ATOL32, f"{name} {mode} {shape} {layout}")
    if mode == "eval":
        assert not buffers_changed(start, lib), "eval mode changed a buffer"


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", NAME_PARAMS)
def test_forward_matches_reference_large_inputs(name: str, mode: str) -> None:
    """Inputs ~25× larger (and with large per-channel means) drive every non-linearity into its far regions
    (ReLU6's cap at 6, h_swish's linear part, saturated sigmoids), which unit-scale inputs rarely reach: ReLU vs
    ReLU6 mix-ups show up here. Outputs are ~25× larger too, so the 1e-5 bound is relative to their magnitude."""
    ref_fn = reference_for(name)
    shape = (4, 32, 7, 5)
    seed = _seed(name, shape, "large")
    lib = build(name, shape[1], seed).train(mode == "train")
    ref = copy.deepcopy(lib)
    # Per-sample, per-channel offsets keep the pooled (mean/max) vectors large as well, not only single pixels.
    offsets = make_input((shape[0], shape[1], 1, 1), "contiguous", seed + 1)
    x = 25.0 * (make_input(shape, "contiguous", seed) + offsets)
    with torch.no_grad():
        y = lib(x)
        y_ref = ref_fn(ref, x)
    assert_close_scaled(y, y_ref, ATOL32, max(1.0, y_ref.abs().max().item()), f"{name} {mode} large-input output")
    assert_same_buffers(lib, ref, ATOL32 * 25.0, f"{name} {mode} large input")


# ----------------------------------------------------------------------------------------------- float64 / gradcheck
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("name", NAME_PARAMS)
def test_gradcheck_input(name: str, mode: str) -> None:
    ref_fn = reference_for(name)
    seed = _seed(name, TINY, "f64")
    lib = build(name, TINY[1], seed, torch.float64).train(mode == "train")
    ref = copy.deepcopy(lib)
    x = make_input(TINY, "contiguous", seed, torch.float64)
    with torch.no_grad():
        assert_close(lib(x), ref_fn(ref, x), ATOL64, f"{name} {mode} float64 output")
    # Train-mode outputs depend on batch statistics only (every BN here sees > 1 value per channel), so the
    # running-stat updates of the repeated calls do not change the function gradcheck differentiates.
    # Full Jacobian in eval mode; train mode (same code plus batch statistics) uses gradcheck's fast mode to stay quick.
    xg = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: lib(t), (xg,), eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=(mode == "train")
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", NAME_PARAMS)
def test_gradcheck_params(name: str) -> None:
    reference_for(name)
    seed = _seed(name, TINY, "f64-params")
    lib = build(name, TINY[1], seed, torch.float64).eval()
    x = make_input(TINY, "contiguous", seed, torch.float64)
    names = [k for k, _ in lib.named_parameters()]
    if name in PARAMETER_FREE:
        assert not names, f"{name} is declared parameter-free but has parameters {names}"
        pytest.skip(f"{name} has no parameters (its input gradient is checked by test_gradcheck_input)")
    assert names, f"{name} has no parameters"
    params = tuple(p.detach().clone().requires_grad_(True) for _, p in lib.named_parameters())

    def f(*ps: Tensor) -> Tensor:
        return torch.func.functional_call(lib, dict(zip(names, ps)), (x,))

    # Fast mode: a random projection of the Jacobian, not all of it (a full one took about 1 s per module). The modules
    # are autograd's own ops, with no backward of their own, so what can go wrong is a cut or missing path, and a
    # random projection shows that.
    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


# ----------------------------------------------------------------------------------------------- backward
def _backward_pair(name: str, shape: tuple[int, ...], layout: str, requires: str, dtype: torch.dtype) -> tuple:
    ref_fn = reference_for(name)
    seed = _seed(name, shape, layout, "backward")
    lib = build(name, shape[1], seed, dtype).train()
    ref = copy.deepcopy(lib)
    want_x, want_p = "input" in requires, "params" in requires
    for m in (lib, ref):
        m.requires_grad_(want_p)
    x = make_input(shape, layout, seed, dtype)
    x_lib = x.clone().requires_grad_(want_x)
    x_ref = x.clone().requires_grad_(want_x)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=dtype)
    with torch.enable_grad():
        y = lib(x_lib)
        y_ref = ref_fn(ref, x_ref)
        (y * g).sum().backward()
        (y_ref * g).sum().backward()
    assert torch.equal(x_lib.detach(), x), "the library modified its input tensor"
    return lib, ref, x_lib, x_ref, y, y_ref, want_x, want_p


def _check_backward(name: str, shape, layout, requires, dtype, atol: float) -> None:
    lib, ref, x_lib, x_ref, y, y_ref, want_x, want_p = _backward_pair(name, shape, layout, requires, dtype)
    assert_close(y, y_ref, atol, f"{name} train output (grad enabled)")
    assert_same_buffers(lib, ref, atol, f"{name} train backward")
    if want_x:
        assert x_lib.grad is not None, "no gradient reached the input"
        assert_close(x_lib.grad, x_ref.grad, atol, f"{name} input gradient")
    if want_p:
        rp = dict(ref.named_parameters())
        # Parameter gradients are sums over every sample and position; some are tens in size, and some (a bias
        # right before a train-mode BN) are exactly 0 in exact arithmetic but the cancellation of terms of that
        # size. An absolute 1e-5 is below float32 resolution there, so the tolerance scales with the module's
        # largest parameter gradient (float64 below checks the same gradients at 1e-9 absolute).
        scale = max([1.0] + [g.abs().max().item() for g in (p.grad for p in rp.values()) if g is not None])
        for k, p in lib.named_parameters():
            assert (p.grad is None) == (rp[k].grad is None), f"{name}: gradient of '{k}' present on one side only"
            if p.grad is not None:
                assert_close_scaled(p.grad, rp[k].grad, atol, scale, f"{name} gradient of '{k}'")


@pytest.mark.parametrize("requires", ["input+params", "input", "params"])
@pytest.mark.parametrize("shape,layout", GRAD_SHAPES)
@pytest.mark.parametrize("name", NAME_PARAMS)
def test_train_backward_matches_reference(name: str, shape: tuple[int, ...], layout: str, requires: str) -> None:
    """float32, train mode: output, input gradient (1e-5) and parameter gradients equal the reference's. With
    only the input, only the parameters, or both requiring grad (in-place fast paths must not engage wrongly)."""
    if requires == "params" and name in PARAMETER_FREE:
        pytest.skip(f"{name} has no parameters to require grad")
    _check_backward(name, shape, layout, requires, torch.float32, ATOL32)


@pytest.mark.parametrize("shape,layout", GRAD_SHAPES[:2])
@pytest.mark.parametrize("name", NAME_PARAMS)
def test_train_backward_matches_reference_float64(name: str, shape: tuple[int, ...], layout: str) -> None:
    """float64, train mode: the same gradients at 1e-9 absolute, parameter gradients included."""
    _check_backward(name, shape, layout, "input+params", torch.float64, 1e-9)


# ----------------------------------------------------------------------------------------------- no_grad paths
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("name", NAME_PARAMS)
def test_no_grad_paths_match_grad_enabled(name: str, layout: str, mode: str) -> None:
    reference_for(name)
    shape = (2, 32, 7, 5)
    seed = _seed(name, shape, layout, "nograd")
    base = build(name, shape[1], seed).train(mode == "train")
    x = make_input(shape, layout, seed)
    x_before = x.clone()
    mods = {k: copy.deepcopy(base) for k in ("grad", "no_grad", "inference_mode")}
    with torch.enable_grad():  # a module without parameters records autograd only for an input that needs grad
        y_grad = mods["grad"](x.clone().requires_grad_(name in PARAMETER_FREE))
    assert y_grad.requires_grad
    with torch.no_grad():
        y_ng = mods["no_grad"](x)
    with torch.inference_mode():
        y_inf = mods["inference_mode"](x)
    assert torch.equal(x, x_before), "the library modified its input tensor"
    for key, y in (("no_grad", y_ng), ("inference_mode", y_inf)):
        assert_close(y, y_grad, 1e-6, f"{name} {mode} {key} vs grad-enabled output")
        assert_same_buffers(mods[key], mods["grad"], 1e-6, f"{name} {mode} {key}")
    # The grad-enabled output still backpropagates after the other calls (no shared storage was overwritten).
    y_grad.sum().backward()
