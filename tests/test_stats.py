"""Statistics on fixed numbers; memory measurement on toy workloads (latency: tests/test_timing.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnbench.cost.count import count_params
from attnbench.cost.opcount import count_ops
from attnbench.stats import quartiles, summarize


def test_quartiles_interpolate_like_numpy() -> None:
    assert quartiles([1, 2, 3, 4]) == (1.75, 2.5, 3.25)
    assert quartiles([5]) == (5, 5, 5)
    with pytest.raises(ValueError):
        quartiles([])


def test_summary_on_fixed_numbers() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.median, s.iqr, s.min, s.max, s.n) == (3.0, 2.0, 1.0, 100.0, 5)
    assert s.mean == 22.0
    assert s.outliers == 1  # 100 > Q3 + 1.5·IQR = 7


def test_peak_memory_counts_live_tensors_op_by_op() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 1, bias=False), nn.ReLU()).eval()
    x = torch.randn(1, 1, 10, 10)
    # weights 16 B + input 400 B + conv output 1600 B + ReLU output 1600 B (both alive when ReLU returns)
    assert count_ops(net, x).peak_mem_bytes == 16 + 400 + 1600 + 1600


def test_peak_memory_ignores_in_place_ops() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 1, bias=False), nn.ReLU(inplace=True)).eval()
    assert count_ops(net, torch.randn(1, 1, 10, 10)).peak_mem_bytes == 16 + 400 + 1600


def test_count_params_splits_attention() -> None:
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    assert count_params(net, [net[1]]).total == 11 and count_params(net, [net[1]]).attention == 3
