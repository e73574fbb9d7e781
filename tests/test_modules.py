"""Every registered attention module keeps the constructor contract, and its counts equal hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attnbench.modules as M
from attnbench.cost.count import count_params
from attnbench.cost.opcount import count_ops as count_flops

NAMES = [n for n in M.ATTENTION.names() if n != "none"]
# Modules whose design has no reduction ratio (no bottleneck): ``reduction=`` is refused for them, never ignored.
WITHOUT_REDUCTION = {
    "eca": "a 1-D conv of k weights over the channels",
    "simam": "parameter-free",
    "triplet": "three 7x7 convs on pooled two-channel maps",
}
# Modules without a gate non-linearity: GC adds its context to every position.
WITHOUT_GATE = {"gc"}
SHAPES = [(2, 32, 7, 5), (1, 24, 1, 1), (1, 16, 9, 9), (3, 8, 2, 11)]


@pytest.mark.parametrize("name", NAMES)
def test_constructor_contract(name: str) -> None:
    m = M.create_attention(name, 32)
    assert isinstance(m, nn.Module)
    with pytest.raises(TypeError):
        M.ATTENTION.get(name).fn(32, 16)  # everything after channels is keyword-only
    defaults = M.attention_defaults(name)
    assert ("gate_layer" in defaults) == (name not in WITHOUT_GATE)
    if name in WITHOUT_REDUCTION:
        assert "reduction" not in defaults
        with pytest.raises(TypeError, match="reduction"):
            M.create_attention(name, 32, reduction=4)
        return
    assert "reduction" in defaults and "act_layer" in defaults
    M.create_attention(name, 32, reduction=4)  # the reduction ratio is a parameter


def test_reduction_is_refused_for_modules_without_one() -> None:
    """``--reduction`` is one value for every module of a run: a run holding a module without a ratio is refused in
    one line, before anything is built, rather than building that module without it (or failing its row)."""
    from clihelp import error_line, run_cli

    assert [n for n in NAMES if not M.accepts_keyword(n, "reduction")] == sorted(WITHOUT_REDUCTION, key=NAMES.index)
    code, _, err = run_cli("profile", "--module", "se,eca,gc,triplet", "--reduction", "8", "--no-latency")
    assert code == 2
    assert (
        error_line(err)
        == "Error: --reduction 8: eca, triplet have no reduction ratio; measure them without --reduction."
    )
    code, _, err = run_cli("profile", "--module", "simam", "-r", "4", "--no-latency")
    assert (code, error_line(err)) == (
        2,
        "Error: --reduction 4: simam has no reduction ratio; measure it without --reduction.",
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_shape_kept_forward_backward(name: str, shape: tuple[int, ...], train: bool) -> None:
    m = M.create_attention(name, shape[1]).train(train)
    x = torch.randn(*shape, requires_grad=True)
    y = m(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in m.parameters()), "every parameter takes part in the forward"


def test_none_is_identity() -> None:
    assert isinstance(M.create_attention("none", 8), nn.Identity)
    assert M.attention_layer("none") is None


# Hand-computed at C=64, 1×64×8×8 (4,096 elements), default reductions. Derivations:
# SE  r=16 → hidden 4. params 64·4+4 + 4·64+64 = 580. MACs 256+256 = 512.
#     elem: mean 4096 + relu 4 + sigmoid 64 + mul 4096 = 8260.
# CA  r=32, min 8 → mip 8. params conv1 520 + bn1 16 + conv_h 576 + conv_w 576 = 1688.
#     MACs: conv1 on H+W=16 positions 64·8·16 = 8192, conv_h 8·64·8 = 4096, conv_w 4096 → 16384.
#     elem: two strip means 2·4096, BN 128, h_swish 128, two sigmoids 2·512, two broadcast muls 2·4096 = 17664.
# CBAM r=16 → hidden 4. params 260 + 320 + 7·7·2 + BN 2 = 680.
#     MACs: shared MLP on 2 vectors 2·512 = 1024, 7×7 conv 98·64 = 6272 → 7296.
#     elem: mean, amax, mul, channel-max, channel-mean, mul = 6·4096; relu 8, add 64, sigmoid 64,
#     BN 64, sigmoid 64 → 24576 + 264 = 24840.
# BAM r=16 → hidden 4. params fc1 260 + BN 8 + fc2 320 + reduce 260 + BN 8 + 2·(dil 148 + BN 8) + project 5 = 1173.
#     MACs: fc1 256 + fc2 256 + reduce 64·4·64 = 16384 + 2 dil 2·4·4·9·64 = 18432 + project 256 = 35584.
#     elem: mean 4096, BN 4 + relu 4, 3×(BN 256 + relu 256), Mc+Ms 4096, sigmoid 4096, F + F·att 2·4096 = 22024.
# ECA C=64 → k = int((6 + 1) / 2) = 3 (odd). params 3. MACs: the 1-D conv, k per channel, 192.
#     elem: mean 4096, sigmoid 64, mul 4096 = 8256.
# SimAM no params, no MACs. elem: mean, sub, square, sum, divide, +1/2, sigmoid, mul = 8·4096; per channel the
#     variance's /n, +λ and ·4 = 3·64 → 32960.
# GC  r=16 → planes 4. params conv_mask 65 + conv 260 + LayerNorm 8 + conv 320 = 653.
#     MACs: conv_mask 4096 + attention pooling (C·HW) 4096 + 256 + 256 = 8704.
#     elem: softmax over 64 logits 64, LayerNorm 4·4, relu 4, residual add 4096 = 4180.
# Triplet: params 3·(98 conv + 2 BN) = 300. MACs: 98 per output of three maps, C×W 512 + H×C 512 + H×W 64 → 106624.
#     elem: max and mean along H, W and C 6·4096; BN, sigmoid, ·1/3 on 1088 gate values each; two adds and the
#     final mul 3·4096 → 24576 + 3264 + 12288 = 40128.
HAND = {
    "se": (580, 512, 8260),
    "ca": (1688, 16384, 17664),
    "cbam": (680, 7296, 24840),
    "bam": (1173, 35584, 22024),
    "eca": (3, 192, 8256),
    "simam": (0, 0, 32960),
    "gc": (653, 8704, 4180),
    "triplet": (300, 106624, 40128),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_computed_counts(name: str) -> None:
    params, macs, elem = HAND[name]
    m = M.create_attention(name, 64).eval()
    assert count_params(m).total == params
    fc = count_flops(m, torch.randn(1, 64, 8, 8))
    assert (fc.macs, fc.elementwise_ops) == (macs, elem), fc.by_operator
    assert fc.unsupported == {}


def test_ca_state_dict_keys_match_reference() -> None:
    keys = set(M.create_attention("ca", 64).state_dict())
    prefixes = {k.split(".")[0] for k in keys}
    assert prefixes == {"conv1", "bn1", "conv_h", "conv_w"}
    x_keys = {k.split(".")[0] for k in M.create_attention("ca_x", 64).state_dict()}
    assert x_keys == {"conv1", "bn1", "conv_h"}


def test_ca_hidden_width_rule() -> None:
    assert M.create_attention("ca", 960).conv1.out_channels == 30  # 960 // 32
    assert M.create_attention("ca", 96).conv1.out_channels == 8  # max(8, 3)
    assert M.create_attention("ca", 96, reduction=8).conv1.out_channels == 12


@pytest.mark.parametrize("name, act", [("ca_relu6", nn.ReLU6), ("ca_silu", nn.SiLU), ("ca", nn.Hardswish)])
def test_ca_activation_variants(name: str, act: type) -> None:
    assert isinstance(M.create_attention(name, 32).act, act)


def test_bam_variants_differ_only_in_combination() -> None:
    torch.manual_seed(0)
    a = M.create_attention("bam", 32).eval()
    b = M.create_attention("bam_mul", 32).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 32, 6, 5)
    assert not torch.allclose(a(x), b(x))
    assert (a.combine, b.combine) == ("sum", "mul")


@pytest.mark.parametrize(
    "channels, k", [(1, 1), (8, 3), (64, 3), (96, 3), (128, 5), (144, 5), (512, 5), (960, 5), (2048, 7)]
)
def test_eca_adaptive_kernel_size(channels: int, k: int) -> None:
    """The paper's rule t = int(|(log2 C + 1) / 2|), k = t if odd else t + 1 (C = 128: t = 4 → 5)."""
    assert M.create_attention("eca", channels).conv.kernel_size == (k,)


def test_eca_kernel_size_override_and_even_sizes_refused() -> None:
    assert M.create_attention("eca", 64, kernel_size=7).conv.kernel_size == (7,)
    with pytest.raises(ValueError, match="odd"):
        M.create_attention("eca", 64, kernel_size=4)


def test_gc_and_triplet_state_dict_keys() -> None:
    gc = set(M.create_attention("gc", 64).state_dict())  # the reference's ContextBlock keys
    assert gc == {"conv_mask.weight", "conv_mask.bias"} | {
        f"channel_add_conv.{i}.{p}" for i in (0, 1, 3) for p in ("weight", "bias")
    }
    assert M.create_attention("gc", 64).channel_add_conv[0].out_channels == 4  # 64 // 16
    assert M.create_attention("gc", 8).channel_add_conv[0].out_channels == 1  # max(1, 0): never an empty bottleneck
    triplet = {k.split(".")[0] for k in M.create_attention("triplet", 64).state_dict()}
    assert triplet == {"cw", "hc", "hw"}


def test_simam_is_parameter_free_and_finite_on_a_1x1_map() -> None:
    m = M.create_attention("simam", 16)
    assert list(m.parameters()) == [] and list(m.buffers()) == []
    x = torch.randn(2, 16, 1, 1)
    assert torch.allclose(m(x), x * torch.sigmoid(torch.tensor(0.5)))  # every deviation is 0 there
