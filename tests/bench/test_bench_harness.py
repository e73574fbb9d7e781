"""The plain script of ``benchmarks/bench_harness.py`` measures what attnbench measures: a harness ratio against a
script that counted or built something else would mean nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attnbench.api import build_spec
from attnbench.cost import runner

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_harness.py"


@pytest.mark.slow
def test_plain_script_counts_the_same_models_and_times_both() -> None:
    args = ["plain", "--input", "32", "--warmup", "1", "--samples", "3", "--calls", "1", "1", "--way", "block"]
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    ours = {r.module: r for r in runner.profile(build_spec(["ca"], input_size=32, latency=False, memory=False)).records}
    assert {m: v[0] for m, v in out["counts"].items()} == {m: r.params for m, r in ours.items()}
    # fvcore's total also counts BatchNorm and pooling; its conv and linear entries are the multiply-accumulates
    macs = {m: sum(n for op, n in v[2].items() if op in ("conv", "linear", "addmm")) for m, v in out["counts"].items()}
    assert macs == {m: r.macs for m, r in ours.items()}
    assert set(out["median_ms"]) == {"none", "ca"} and all(v > 0 for v in out["median_ms"].values())
