"""Statistics on fixed numbers; latency and memory measurement on toy workloads (no timing asserted)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnbench.cost.count import count_params
from attnbench.cost.opcount import count_ops
from attnbench.cost.timing import time_latency
from attnbench.stats import check_sample_count, check_stability, quartiles, summarize


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


def test_stability_warnings_name_a_remedy() -> None:
    assert check_stability(summarize([10.0] * 20)) == ()
    spread = check_stability(summarize([10.0, 10.0, 14.0, 14.0] * 5), "ca")
    assert len(spread) == 1 and spread[0].startswith("ca: latency spread is high") and "--repeats" in spread[0]
    assert check_stability(summarize([1.0] * 5)) == ()
    assert check_sample_count(10) == ()
    few = check_sample_count(5)
    assert len(few) == 1 and "only 5 samples" in few[0] and "raise --repeats" in few[0]


def test_time_latency_keeps_every_sample() -> None:
    lat = time_latency(lambda: torch.ones(10).sum(), threads=1, warmup=2, repeats=7)
    assert len(lat.samples_ms) == 7 and lat.summary.n == 7
    assert lat.calls_per_sample >= 1 and all(s > 0 for s in lat.samples_ms)
    fixed = time_latency(lambda: None, threads=1, warmup=0, repeats=5, calls_per_sample=3)
    assert fixed.calls_per_sample == 3


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
