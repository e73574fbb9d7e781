"""The C heap during timing: freed memory stays in the process, so a forward does not pay the kernel for it again.

glibc's malloc serves every block above 32 MiB with its own ``mmap`` and returns it with ``munmap`` when freed,
and it gives the top of its heap back to the kernel once more than 128 KiB of it are free. At batch 32 and 224 px
most activations of a mobile network are above that size, so each forward maps, faults in and unmaps them again:
on a 1-thread CPU run that was half of MobileNetV2's forward time, and it diluted a module's Δlatency (CA:
+8 % with the defaults, +29 % with the heap kept). How much of it a forward pays also depends on what the process
allocated before (glibc moves its thresholds), so two runs of one model could differ by 2×.

``kept_heap`` turns both off for the duration (``mallopt(M_MMAP_MAX, 0)``, ``mallopt(M_TRIM_THRESHOLD, max)``):
the first forward grows the heap and later ones reuse it, as ONNX Runtime's and OpenVINO's own arenas do. At
batch 1 the activations (1–5 MiB) soon fall under glibc's rising mmap threshold, but the trimmed heap top is
still faulted in again on each forward: there the kept heap measured MobileNetV2 at 33 ms instead of 36 ms and
CA's share at +41 % instead of +34 % (1 thread, same session). The settings are put back afterwards, and
the free top of the heap is returned; one thing mallopt cannot undo is glibc's dynamic mmap threshold, which
stays off (fixed where it stood) for the rest of the process.
``allocator_name`` says what the timing ran under, for every result row.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import platform
from collections.abc import Iterator
from pathlib import Path

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
DEFAULT_TRIM_THRESHOLD = 128 * 1024
DEFAULT_MMAP_MAX = 65536
"""glibc's own defaults (malloc/malloc.c), which ``kept_heap`` restores."""
KEPT = "heap kept"

PRELOADED = ("jemalloc", "tcmalloc", "mimalloc")
"""Allocators that replace glibc's malloc when loaded (LD_PRELOAD); glibc's settings do not apply to them."""


@functools.cache
def _preloaded() -> str:
    """The name of a replacement allocator mapped into this process, or '' (fixed when the process starts)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return ""
    return next((name for name in PRELOADED if f"lib{name}" in maps), "")


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """glibc's C library when this process runs on it, else ``None``."""
    libc, _ = platform.libc_ver()
    if libc != "glibc":
        return None
    try:
        lib = ctypes.CDLL(None)
        lib.mallopt, lib.malloc_trim  # noqa: B018 (both must exist)
    except (OSError, AttributeError):
        return None
    return lib


def allocator_name() -> str:
    """What a timing with ``kept_heap`` runs under: ``glibc 2.36, heap kept``, ``jemalloc``, or the platform's."""
    other = _preloaded()
    if other:
        return other
    if _glibc() is not None:
        return f"glibc {platform.libc_ver()[1]}, {KEPT}"
    return f"{platform.system().lower() or 'unknown'} default"


@contextlib.contextmanager
def kept_heap() -> Iterator[None]:
    """For the duration, glibc's malloc maps no block and trims no heap; elsewhere this changes nothing."""
    lib = None if _preloaded() else _glibc()
    if lib is None:
        yield
        return
    lib.mallopt(M_MMAP_MAX, 0)
    lib.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield
    finally:
        lib.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        lib.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
        lib.malloc_trim(0)
