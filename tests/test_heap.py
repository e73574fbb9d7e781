"""The C heap during timing (``cost.heap``): freed memory is reused without faulting it in again, and the process's
own settings come back afterwards."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch

from attnbench.cost import heap

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or heap._preloaded() != "", reason="glibc's own malloc only"
)

PROBE = """
import resource, torch
from attnbench.cost import heap

torch.set_num_threads(1)
conv = dict(in_channels=16, out_channels=16, kernel_size=1)
net = torch.nn.Sequential(torch.nn.Conv2d(**conv), torch.nn.ReLU(), torch.nn.Conv2d(**conv), torch.nn.ReLU()).eval()
x = torch.randn(12, 16, 224, 224)  # 38.5 MiB per activation: above glibc's largest mmap threshold (32 MiB)

def faults_per_forward(rounds=10):
    with torch.no_grad():
        for _ in range(3):  # warm-up, as the timing does: the kept heap grows to its steady size here
            net(x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(rounds):
            net(x)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / rounds

default = faults_per_forward()
with heap.kept_heap():
    pass
restored = faults_per_forward()
with heap.kept_heap():
    kept = faults_per_forward()
print(x.numel() * x.element_size() // resource.getpagesize(), default, restored, kept)
"""


@pytest.mark.slow
@glibc_only
def test_kept_heap_reuses_freed_memory_without_faulting_it_in_again() -> None:
    # a fresh process, so that no earlier allocation has moved glibc's thresholds
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    pages, default, restored, kept = map(float, out.stdout.split())
    # by default each of the 4 activations is mapped and faulted in anew on every forward
    assert default > 2 * pages, (default, pages)
    assert restored > 2 * pages, (restored, pages)  # entering and leaving kept_heap puts the defaults back
    # kept: the freed blocks are reused as they are; a few late growths of the heap may still fault some pages in
    assert kept < default / 10, (kept, default, pages)


@glibc_only
def test_allocator_name_says_glibc_and_that_the_heap_was_kept() -> None:
    assert heap.allocator_name() == f"glibc {platform.libc_ver()[1]}, heap kept"


def test_kept_heap_changes_nothing_where_malloc_is_not_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_glibc() -> None:
        raise AssertionError("glibc's mallopt must not be touched under another allocator")

    monkeypatch.setattr(heap, "_preloaded", lambda: "jemalloc")
    monkeypatch.setattr(heap, "_glibc", no_glibc)
    assert heap.allocator_name() == "jemalloc"
    with heap.kept_heap():
        assert torch.ones(4).sum().item() == 4
