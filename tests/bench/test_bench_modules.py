"""pytest-benchmark suite: each attention module's forward at the issue's reference shape, costs in ``extra_info``.

Plain ``pytest`` runs each benchmark once as a smoke test (``--benchmark-disable`` is in the project's addopts).
For timings and regression gates:

    pytest tests/bench --benchmark-enable --benchmark-autosave
    pytest tests/bench --benchmark-enable --benchmark-compare --benchmark-compare-fail=median:10%
"""

from __future__ import annotations

import pytest
import torch

import attnbench.modules as M
from attnbench.cost.count import count_params
from attnbench.cost.opcount import count_ops as count_flops

NAMES = [n for n in M.ATTENTION.names() if n != "none"]
SHAPE = (1, 144, 56, 56)


@pytest.mark.parametrize("name", NAMES)
def test_forward(benchmark, name: str) -> None:  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    module = M.create_attention(name, SHAPE[1]).eval()
    x = torch.randn(*SHAPE)
    flops = count_flops(module, x)
    benchmark.extra_info.update(
        shape="x".join(map(str, SHAPE)),
        threads=1,
        params=count_params(module).total,
        macs=flops.macs,
        elementwise_ops=flops.elementwise_ops,
        torch_version=torch.__version__,
    )
    benchmark.group = "attention forward"
    with torch.inference_mode():
        out = benchmark(module, x)
    assert out.shape == x.shape
