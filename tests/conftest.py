"""Shared test settings: one CPU thread, fixed seeds, registries left as found, the `gpu` marker that skips without
CUDA, and ``made_once`` for a costly fixture the test workers share."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Rewriting the asserts of every test module costs each worker about 4 s; pytest caches the result as bytecode, which
# an environment with PYTHONDONTWRITEBYTECODE set would forbid. The suite writes it (``__pycache__`` is ignored).
sys.dont_write_bytecode = False

import torch  # noqa: E402

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


def made_once(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder that ``make`` fills once per test session, whichever worker asks first; the others wait for it.

    A module-scoped fixture runs again on every worker that gets some of the module's tests, and again whenever
    a worker comes back to the module after stealing other tests; a folder that tests only read is made once.
    """
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            done.touch()
    return folder


@pytest.fixture
def device() -> str:
    """The device under test: ATTNBENCH_TEST_DEVICE, default cpu."""
    return os.environ.get("ATTNBENCH_TEST_DEVICE", "cpu")
