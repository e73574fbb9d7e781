"""ECA, SimAM, GC and triplet attention against numbers produced once by their authors' own code.

``test_equivalence.py`` holds every module to a formulation written here from its paper. This file holds the four
comparator modules to their reference implementations as well, through outputs recorded from that code.

How the numbers in ``GOLDEN`` were obtained, once, outside this repository (torch 2.13.0, CPU, float64):

1. Each reference repository was fetched at the commit below and its module file run from a scratch folder:
   BangguWu/ECANet b332f6b ``models/eca_module.py`` (``eca_layer(144, k_size=5)``: the file takes k as an
   argument, and 5 is the paper's rule at C = 144), ZjjConan/SimAM ae98f43 ``networks/attentions/simam_module.py``
   (``simam_module()``, λ = 1e-4), xvjiarui/GCNet 029db54 ``mmdet/ops/gcb/context_block.py``
   (``ContextBlock(C, ratio=1/16)``; its two mmcv init helpers replaced by stand-ins, as every weight is
   overwritten) and landskape-ai/triplet-attention 2cf02fb ``triplet_attention.py`` (``TripletAttention()``).
2. The reference module was converted to float64 and loaded with ``golden_state`` below, computed from attnbench's
   own module of the same configuration, its keys renamed to the reference's (``reference_key``).
3. It ran on ``golden_input`` below, in eval mode, and for triplet attention (the one with BatchNorm) also in train
   mode, and the output's sum, sum of squares and values at five flat positions (``POSITIONS``) were printed with
   ``repr`` and copied here.

The test rebuilds the same weights and input and runs attnbench's module: everything must agree to 1e-10 relative.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import attnbench.modules as M

# name -> (input shape N×C×H×W, seed); C picks a non-trivial case: ECA at C = 144 has k = 5, GC at 64 a 4-wide
# bottleneck, and every H ≠ W so that a transposed axis shows.
CONFIGS = {
    "eca": ((2, 144, 5, 4), 1),
    "simam": ((2, 8, 7, 5), 2),
    "gc": ((2, 64, 7, 5), 3),
    "triplet": ((2, 16, 7, 5), 4),
}


def golden_state(module: nn.Module, seed: int) -> dict[str, Tensor]:
    """Weights from the seed alone: the i-th key in sorted order draws from generator ``seed·1000 + i``; a BN
    running variance is uniform in [0.5, 1.5), every other float tensor 0.5 × standard normal; counters are kept."""
    state = {}
    for i, (key, t) in enumerate(sorted(module.state_dict().items())):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        if not t.is_floating_point():
            state[key] = t.clone()
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(t.shape, generator=g, dtype=torch.float64)
        else:
            state[key] = 0.5 * torch.randn(t.shape, generator=g, dtype=torch.float64)
    return state


def golden_input(shape: tuple[int, ...], seed: int) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def reference_key(name: str, key: str) -> str:
    """attnbench's state-dict key -> the reference module's: only triplet attention nests its layers differently."""
    if name == "triplet":
        branch, rest = key.split(".", 1)
        return f"{branch}.conv.{rest}"  # cw.conv.weight -> cw.conv.conv.weight, cw.bn.* -> cw.conv.bn.*
    return key


POSITIONS = (0, 1, 2, 3, 4)
"""Fractions k/4 of the flat output: index ``k * (numel - 1) // 4``."""

# (name, mode) -> (sum, sum of squares, values at POSITIONS), printed by the reference code (see the docstring).
GOLDEN: dict[tuple[str, str], tuple[float, float, tuple[float, ...]]] = {
    ("eca", "eval"): (
        70.61582658311193,
        1431.4600346643929,
        (-0.15970608493692307, 0.5803804935999937, -0.8902465324444789, -0.6385806397598145, 1.1052777961041267),
    ),
    ("simam", "eval"): (
        -27.16534493721536,
        310.084554551187,
        (-0.5116524623976596, 0.23202358129312026, -0.5736144639005094, 0.5517354624367385, 0.4119581395190388),
    ),
    ("gc", "eval"): (
        206.18394119488303,
        6706.404997012638,
        (0.2604130860226586, -1.4658844895305976, 0.9914546677973339, 1.0600457550542184, 0.787109062696036),
    ),
    ("triplet", "eval"): (
        8.673748584567747,
        120.77964972436038,
        (0.3284565427983601, -0.23747623692607758, 0.019218382773146032, -0.1844068895059866, -0.05654871830892584),
    ),
    ("triplet", "train"): (
        4.684676807349998,
        163.88295029996223,
        (0.33991493264746514, -0.3011782978271913, 0.029401986527187802, -0.2896486744792137, -0.06671270698484189),
    ),
}


def _summary(y: Tensor) -> tuple[float, float, tuple[float, ...]]:
    flat = y.detach().flatten()
    picks = tuple(flat[k * (flat.numel() - 1) // 4].item() for k in POSITIONS)
    return flat.sum().item(), flat.square().sum().item(), picks


@pytest.mark.parametrize(("name", "mode"), sorted(GOLDEN))
def test_output_equals_the_reference_codes(name: str, mode: str) -> None:
    shape, seed = CONFIGS[name]
    m = M.create_attention(name, shape[1]).double()
    if name == "eca":
        assert m.conv.kernel_size == (5,)  # the k the reference ran with
    m.load_state_dict(golden_state(m, seed))
    y = m.train(mode == "train")(golden_input(shape, seed))
    got, want = _summary(y), GOLDEN[(name, mode)]
    for what, a, b in (("sum", got[0], want[0]), ("sum of squares", got[1], want[1])):
        assert a == pytest.approx(b, rel=1e-10, abs=1e-10), f"{name} {mode}: output {what}"
    assert got[2] == pytest.approx(want[2], rel=1e-10, abs=1e-12), f"{name} {mode}: output values"


def test_every_comparator_module_has_golden_numbers() -> None:
    assert {name for name, _ in GOLDEN} == set(CONFIGS) and ("triplet", "train") in GOLDEN
