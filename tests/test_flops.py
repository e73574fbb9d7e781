"""The op-counting convention on toy nets with hand-computed counts, and the cross-check against FlopCounterMode."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import attnbench.modules as M
from attnbench.cost.opcount import count_ops as count_flops


class SEMean(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc2(self.fc1(x.mean((2, 3), keepdim=True)).relu()).sigmoid()


class SEModules(SEMean):
    def __init__(self) -> None:
        super().__init__()
        self.pool, self.act, self.gate = nn.AdaptiveAvgPool2d(1), nn.ReLU(), nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mul(x, self.gate(self.fc2(self.act(self.fc1(self.pool(x))))))


def test_conv_and_linear_macs() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.Flatten(), nn.Linear(8 * 8 * 8, 5))
    fc = count_flops(net.eval(), torch.randn(1, 3, 10, 10))
    assert fc.macs == 8 * 8 * 8 * 3 * 9 + 512 * 5
    assert fc.elementwise_ops == 0


def test_same_math_same_count_in_any_coding_style() -> None:
    x = torch.randn(2, 16, 5, 7)
    a, b = count_flops(SEMean().eval(), x), count_flops(SEModules().eval(), x)
    assert (a.macs, a.elementwise_ops) == (b.macs, b.elementwise_ops)
    n = x.numel()
    assert a.elementwise_ops == n + 2 * 4 + 2 * 16 + n  # mean, relu, sigmoid, mul


def test_elementwise_families() -> None:
    class Net(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.nn.functional.hardswish(x) + x  # 2 per element
            y = torch.addcmul(y, y, x)  # 2 per element
            return torch.nn.functional.max_pool2d(y, 2)  # 4 per output element

    fc = count_flops(Net(), torch.randn(1, 2, 4, 4))
    assert fc.elementwise_ops == 32 * 2 + 32 * 2 + 4 * 8
    assert fc.macs == 0


def test_eval_batchnorm_is_one_op_per_element() -> None:
    fc = count_flops(nn.BatchNorm2d(3).eval(), torch.randn(2, 3, 4, 5))
    assert fc.elementwise_ops == 2 * 3 * 4 * 5


def test_unsupported_ops_are_reported_not_dropped() -> None:
    class Net(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.erf(x)

    fc = count_flops(Net(), torch.randn(3, 3))
    assert fc.unsupported == {"aten::erf": 1}


def test_attention_share_is_attributed() -> None:
    model = M.create_model("mbv2", "ca", width=0.5, num_classes=10).eval()
    attn = M.find_attention(model)
    x = torch.randn(1, 3, 64, 64)
    fc = count_flops(model, x, [n for n, _ in attn])
    assert 0 < fc.attn_macs < fc.macs and 0 < fc.attn_elementwise_ops < fc.elementwise_ops
    per_module = [count_flops(model, x, [n]) for n, _ in attn]  # the shares of single modules add up
    assert sum(p.attn_macs for p in per_module) == fc.attn_macs
    assert sum(p.attn_elementwise_ops for p in per_module) == fc.attn_elementwise_ops


@pytest.mark.parametrize("backbone, attention", [("mbv2", "ca"), ("mbv2", "cbam"), ("r18", "se"), ("mnext", "ca")])
def test_macs_agree_with_flop_counter_mode(backbone: str, attention: str) -> None:
    """Conv/linear MACs equal FlopCounterMode's FLOPs / 2 (it counts 2 per multiply-add)."""
    model = M.create_model(backbone, attention, num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    assert count_flops(model, x).macs * 2 == counter.get_total_flops()


def test_paper_scale_mbv2_counts() -> None:
    """MobileNetV2-1.0 at 224: 300.8M MACs; +CA (r=32): 306.7M, as independent counts give (printed: 300M / 310M)."""
    x = torch.randn(1, 3, 224, 224)
    base = count_flops(M.create_model("mbv2").eval(), x)
    ca = count_flops(M.create_model("mbv2", "ca").eval(), x)
    assert round(base.macs / 1e6, 1) == 300.8
    assert round(ca.macs / 1e6, 1) == 306.7
