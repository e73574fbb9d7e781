"""Shared test settings: one CPU thread, fixed seeds, and the `gpu` marker that skips without CUDA."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA; no GPU on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def device() -> str:
    """The device under test: ATTNBENCH_TEST_DEVICE, default cpu."""
    return os.environ.get("ATTNBENCH_TEST_DEVICE", "cpu")
