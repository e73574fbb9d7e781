"""Attention-module speed as ratios measured in one run: library vs its plain reference vs one full-tensor copy.

    python benchmarks/bench_modules.py                 # the issue-3 table: 1×144×56×56, batch 1, eval, 1 thread
    python benchmarks/bench_modules.py --rounds 9 --csv results/bench-modules.csv

Every timing is a ``torch.utils.benchmark.Timer`` median (via ``attnbench.cost.timing.time_latency``) under
``inference_mode``. The candidates of one comparison are timed in interleaved rounds, a ratio is formed per round,
and the table shows the median ratio with its min-max over rounds: ratios survive a noisy, shared machine, absolute
times do not. The reference formulations are the ones the equivalence tests use (``tests/reference.py``).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

import attnbench.modules as M
from attnbench.cost.timing import time_latency


def _load_reference() -> object:
    path = Path(__file__).resolve().parents[1] / "tests" / "reference.py"
    spec = importlib.util.spec_from_file_location("attnbench_tests_reference", path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


reference_forward = _load_reference().reference_forward  # type: ignore[attr-defined]

# Targets from the issue, as (ratio name, limit): module/clone at most, module speed-up over reference at least.
TARGETS = {
    "ca": {"clone": 3.0, "ref_speedup": 5.0, "mbv2": 1.10},
    "se": {"clone": 2.0},
    "cbam": {"clone": 4.0},
}


def ratios(fns: dict[str, Callable[[], object]], rounds: int, repeats: int, threads: int) -> dict[str, list[float]]:
    """Per-round median latency of every candidate, interleaved; returns the per-round medians in ms."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    calls: dict[str, int] = {}
    for r in range(rounds):
        for name, fn in fns.items():
            lat = time_latency(
                fn, threads=threads, warmup=3 if r == 0 else 1, repeats=repeats, calls_per_sample=calls.get(name)
            )
            calls[name] = lat.calls_per_sample
            out[name].append(lat.summary.median)
    return out


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", default=",".join(n for n in M.ATTENTION.names() if n != "none"))
    ap.add_argument("--shape", default="1,144,56,56", help="N,C,H,W of the module input")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=9, help="samples per candidate per round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--input", type=int, default=224, help="MobileNetV2 input size")
    ap.add_argument("--no-mbv2", action="store_true", help="skip the whole-network comparison")
    ap.add_argument("--csv", type=Path, help="also write the table as CSV (raw ratios)")
    args = ap.parse_args()

    torch.manual_seed(0)
    names = [n for n in args.modules.split(",") if n]
    n, c, h, w = (int(v) for v in args.shape.split(","))
    x = torch.randn(n, c, h, w)
    rows = []
    print(f"torch {torch.__version__}, {args.threads} thread(s), module input {n}x{c}x{h}x{w}, eval, batch {n}")
    print(f"{'module':10} {'lib ms':>8} {'lib/clone':>18} {'ref/lib':>18} {'mbv2 with/without':>20}  targets")
    for name in names:
        m = M.create_attention(name, c).eval()
        with torch.inference_mode():
            per = ratios(
                {"clone": lambda: x.clone(), "lib": lambda: m(x), "ref": lambda: reference_forward(name, m, x)},
                args.rounds,
                args.repeats,
                args.threads,
            )
        lib_clone = [a / b for a, b in zip(per["lib"], per["clone"])]
        ref_lib = [a / b for a, b in zip(per["ref"], per["lib"])]
        net = []
        if not args.no_mbv2:
            xi = torch.randn(1, 3, args.input, args.input)
            base, att = M.create_model("mbv2").eval(), M.create_model("mbv2", name).eval()
            with torch.inference_mode():
                per_net = ratios({"base": lambda: base(xi), "att": lambda: att(xi)}, args.rounds, 3, args.threads)
            net = [a / b for a, b in zip(per_net["att"], per_net["base"])]
        t = TARGETS.get(name, {})
        checks = []
        for key, got, op in (("clone", lib_clone, "<="), ("ref_speedup", ref_lib, ">="), ("mbv2", net, "<=")):
            if key in t and got:
                med = statistics.median(got)
                ok = med <= t[key] if op == "<=" else med >= t[key]
                checks.append(f"{key} {op} {t[key]:g}: {'met' if ok else 'MISSED'}")
        print(
            f"{name:10} {statistics.median(per['lib']):8.3f} {spread(lib_clone):>18} {spread(ref_lib):>18} "
            f"{spread(net) if net else '-':>20}  {'; '.join(checks)}"
        )
        rows.append(
            {
                "module": name,
                "shape": args.shape,
                "threads": args.threads,
                "rounds": args.rounds,
                "lib_ms_median": statistics.median(per["lib"]),
                "clone_ms_median": statistics.median(per["clone"]),
                "ref_ms_median": statistics.median(per["ref"]),
                "lib_over_clone_median": statistics.median(lib_clone),
                "lib_over_clone_min": min(lib_clone),
                "lib_over_clone_max": max(lib_clone),
                "ref_over_lib_median": statistics.median(ref_lib),
                "mbv2_ratio_median": statistics.median(net) if net else "",
                "mbv2_ratio_min": min(net) if net else "",
                "mbv2_ratio_max": max(net) if net else "",
                "torch_version": torch.__version__,
            }
        )
    print(
        "ratios: median over rounds (min-max); lib/clone = module time / x.clone() time; ref/lib = speed-up over "
        "the plain reference; mbv2 = MobileNetV2-1.0 latency with the module / without."
    )
    if args.csv:
        with args.csv.open("w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)


if __name__ == "__main__":
    main()
