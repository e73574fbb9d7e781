"""The CUDA path, run when a GPU is present and skipped otherwise (never mocked)."""

from __future__ import annotations

import pytest
import torch

import attnbench.modules as M
from attnbench.api import build_spec
from attnbench.cost.opcount import count_ops
from attnbench.cost.runner import profile

pytestmark = pytest.mark.gpu


def test_cuda_profile_times_and_measures_memory_on_the_gpu() -> None:
    spec = build_spec(["ca"], backbone="mbv2", device="cuda", input_size=64, repeats=10, warmup=3, max_time=0)
    result = profile(spec)
    assert [r.module for r in result.records] == ["none", "ca"]
    for r in result.records:
        assert r.status == "ok" and r.device == "cuda" and r.device_name == torch.cuda.get_device_name(0)
        assert r.latency_ms_median > 0 and r.latency_n == 10 and r.peak_mem_bytes > 0
    assert result.records[1].d_params == result.records[1].attn_params


@pytest.mark.parametrize("name", [n for n in M.ATTENTION.names() if n != "none"])
def test_modules_agree_between_cpu_and_cuda(name: str) -> None:
    m = M.create_attention(name, 32).eval()
    x = torch.randn(2, 32, 9, 7)
    with torch.inference_mode():
        ref = m(x)
        out = m.cuda()(x.cuda()).cpu()
    assert (out - ref).abs().max().item() < 1e-4


def test_cuda_peak_memory_counts_the_activations() -> None:
    net = torch.nn.Conv2d(3, 64, 3, padding=1).cuda().eval()
    x = torch.randn(1, 3, 256, 256, device="cuda")
    assert count_ops(net, x).peak_mem_bytes >= 64 * 256 * 256 * 4  # at least the output tensor
