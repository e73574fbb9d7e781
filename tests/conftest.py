"""Shared test settings: one CPU thread, fixed seeds, registries left as found, and the `gpu` marker that skips without
CUDA."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

torch.set_num_threads(1)


SLOWEST_FIRST = (
    "test_reliability.py",
    "test_runtimes.py",
    "test_equivalence.py",
    "test_ablate.py",
    "test_exit_codes.py",
    "test_cli.py",
    "test_fuzz.py",
    "test_train.py",
    "test_opcount.py",
    "test_tables.py",
    "test_check.py",
)
"""The files with the longest tests, collected first: ``-n auto --dist worksteal`` splits the collection between the
workers and an idle worker steals from a busy one, so a long test near the end would run alone."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the order inside a file is kept
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA; no GPU on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _forget_registrations() -> Iterator[None]:
    """Unregister what a test registered (a plugin it loaded, a module it declared), so that no later test on the
    same worker sees it in `list` or in the suggestions of an unknown-name error."""
    from attnbench import modules

    registries = (modules.ATTENTION, modules.BACKBONES, modules.HEADS)
    before = [set(reg.names()) for reg in registries]
    yield
    for reg, names in zip(registries, before):
        for name in set(reg.names()) - names:
            reg.unregister(name)


@pytest.fixture
def device() -> str:
    """The device under test: ATTNBENCH_TEST_DEVICE, default cpu."""
    return os.environ.get("ATTNBENCH_TEST_DEVICE", "cpu")
