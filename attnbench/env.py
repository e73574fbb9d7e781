"""The environment every result row records: versions, device, CPU, threads, git commit and time."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch


@dataclass(frozen=True)
class EnvInfo:
    torch_version: str
    cuda_version: str
    device_name: str
    cpu_name: str
    host: str
    git_sha: str
    timestamp_utc: str
    cpu_cache_kib: str = ""
    """Data and unified cache sizes of CPU 0 in KiB per level (``cpu_cache_kib``)."""


def available_cpus() -> int:
    """CPU cores this process may run on: its affinity mask where the OS has one (Linux), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_cache_kib(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> str:
    """CPU 0's data and unified caches as ``L1d:48;L2:1024;L3:32768`` (KiB), from Linux sysfs; ``""`` elsewhere.

    Instruction caches are left out: they do not hold a model's weights or activations.
    """
    sizes: dict[str, int] = {}
    try:
        for index in sorted(root.glob("index*")):
            kind = (index / "type").read_text().strip()
            if kind == "Instruction":
                continue
            level = (index / "level").read_text().strip()
            text = (index / "size").read_text().strip().upper()
            unit = {"K": 1, "M": 1024, "G": 1024 * 1024}.get(text[-1:], None)
            kib = int(text[:-1]) * unit if unit else int(text) // 1024
            sizes[f"L{level}{'d' if kind == 'Data' else ''}"] = kib
    except (OSError, ValueError):
        return ""
    return ";".join(f"{k}:{v}" for k, v in sorted(sizes.items()))


def git_sha() -> str:
    """The commit of the attnbench checkout in use, or '' when it is not a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()[:12] if out.returncode == 0 else ""


def collect_env(device: str) -> EnvInfo:
    """Read the environment for a run on ``device`` ("cpu" or "cuda[:N]")."""
    on_cuda = device.startswith("cuda")
    return EnvInfo(
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda or "",
        device_name=torch.cuda.get_device_name(torch.device(device)) if on_cuda else cpu_name(),
        cpu_name=cpu_name(),
        host=os.environ.get("ATTNBENCH_HOST") or socket.gethostname(),
        cpu_cache_kib=cpu_cache_kib(),
        git_sha=git_sha(),
        timestamp_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
