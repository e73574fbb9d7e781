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


def git_sha() -> str:
    """The commit of the attnbench checkout in use, or '' when it is not a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def collect_env(device: str) -> EnvInfo:
    """Read the environment for a run on ``device`` ("cpu" or "cuda[:N]")."""
    on_cuda = device.startswith("cuda")
    return EnvInfo(
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda or "",
        device_name=torch.cuda.get_device_name(torch.device(device)) if on_cuda else cpu_name(),
        cpu_name=cpu_name(),
        host=os.environ.get("ATTNBENCH_HOST") or socket.gethostname(),
        git_sha=git_sha(),
        timestamp_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
