"""Every registered attention module keeps the constructor contract, and its counts equal hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attnbench.modules as M
from attnbench.cost.count import count_params
from attnbench.cost.opcount import count_ops as count_flops

NAMES = [n for n in M.ATTENTION.names() if n != "none"]
SHAPES = [(2, 32, 7, 5), (1, 24, 1, 1), (1, 16, 9, 9), (3, 8, 2, 11)]


@pytest.mark.parametrize("name", NAMES)
def test_constructor_contract(name: str) -> None:
    m = M.create_attention(name, 32)
    assert isinstance(m, nn.Module)
    with pytest.raises(TypeError):
        M.ATTENTION.get(name).fn(32, 16)  # everything after channels is keyword-only
    defaults = M.attention_defaults(name)
    assert "reduction" in defaults and "act_layer" in defaults and "gate_layer" in defaults
    M.create_attention(name, 32, reduction=4)  # the reduction ratio is a parameter


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
HAND = {
    "se": (580, 512, 8260),
    "ca": (1688, 16384, 17664),
    "cbam": (680, 7296, 24840),
    "bam": (1173, 35584, 22024),
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
