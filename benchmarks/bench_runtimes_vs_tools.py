"""attnbench's latency shares beside the tools users trust, in one sitting: OpenVINO's ``benchmark_app``, a plain
ONNX Runtime loop and a plain eager loop, on the same ONNX graphs and models attnbench times.

    python benchmarks/bench_runtimes_vs_tools.py                       # mbv2, se and ca, 3 rounds
    python benchmarks/bench_runtimes_vs_tools.py --rounds 5 --csv results/runtimes-vs-tools.csv

Each round, for MobileNetV2-1.0 at 224 px, batch 1, 1 thread, float32:

1. ``attnbench profile --module se,ca --runtime eager,onnxruntime,openvino --format json`` in a subprocess: each
   module's share (Δlatency against the baseline on the same runtime) with its 95 % interval;
2. the same three models exported once with attnbench's own exporter (``runtimes.onnx_export.export``, so the graphs
   are the ones attnbench times), then for each: ``benchmark_app -m MODEL.onnx -d CPU -hint none -nthreads 1
   -nstreams 1 -api sync -infer_precision f32 -t SECONDS``, its reported median latency;
3. a plain ONNX Runtime loop (one intra-op thread, sequential) and a plain eager loop (``inference_mode``, one
   thread): after 10 warm-up calls per model, blocks of ``--block`` calls of one model, models taken in turn
   (interleaved, as attnbench does), the median per-call time of each model's blocks.

A tool's share of a module is ``median(module) / median(none) − 1``. Each round prints every source's share; the end
prints the median over rounds and, per runtime and module, whether attnbench's share is within ``--tolerance``
percentage points of each tool's (or the tool's figure falls inside attnbench's 95 % interval). The exit code is 1
when one is not. ``--csv`` writes one row per round, runtime, module and source (raw numbers, shares in percent).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES = ("none", "se", "ca")


def attnbench_shares(modules: list[str], backbone: str, max_time: float) -> dict[tuple[str, str], dict[str, float]]:
    """(runtime, module) → share and interval (percent) from one ``attnbench profile`` run."""
    cmd = [
        sys.executable,
        "-m",
        "attnbench",
        "profile",
        "--module",
        ",".join(modules),
        "--backbone",
        backbone,
        "--runtime",
        "eager,onnxruntime,openvino",
        "--threads",
        "1",
        "--max-time",
        str(max_time),
        "--format",
        "json",
        "--quiet",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = json.loads(done.stdout)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    out = {}
    for r in rows:
        if r["module"] != "none" and r["status"] == "ok":
            out[(r["runtime"], r["module"])] = {
                "share": r["d_latency_pct"],
                "low": r["d_latency_pct_ci_low"],
                "high": r["d_latency_pct_ci_high"],
                "none_ms": None,
                "module_ms": r["latency_ms_median"],
            }
    return out


def export_models(modules: list[str], backbone: str, folder: Path) -> dict[str, tuple[object, Path]]:
    """The eager models and their ONNX files, exported as attnbench exports them."""
    import torch

    from attnbench import modules as registry
    from attnbench.runtimes.base import Request
    from attnbench.runtimes.onnx_export import export

    x = torch.zeros(1, 3, 224, 224)
    out = {}
    for name in ("none", *modules):
        torch.manual_seed(0)
        model = registry.create_model(backbone, name).eval()
        exported = export(model, x, Request(key=name, workdir=folder))
        out[name] = (model, exported.path)
    return out


def benchmark_app_ms(path: Path, seconds: float) -> float:
    """benchmark_app's median latency (ms) for one model: sync API, 1 thread, 1 stream, f32 (``-t``: whole seconds)."""
    tool = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    cmd = [
        tool,
        "-m",
        str(path),
        "-d",
        "CPU",
        "-hint",
        "none",
        "-nthreads",
        "1",
        "-nstreams",
        "1",
        "-api",
        "sync",
        "-infer_precision",
        "f32",
        "-t",
        str(max(1, round(seconds))),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark_app failed (exit {done.returncode}):\n{(done.stderr or done.stdout)[-2000:]}")
    m = re.search(r"Median:\s+([0-9.]+)\s*ms", done.stdout)
    if not m:
        raise RuntimeError(f"benchmark_app printed no median latency:\n{done.stdout[-2000:]}")
    return float(m.group(1))


def interleaved_ms(calls: dict[str, object], block: int, seconds: float) -> dict[str, float]:
    """Median per-call ms of each call over blocks of ``block`` calls, models in turn, for about ``seconds``."""
    for fn in calls.values():
        for _ in range(10):
            fn()  # type: ignore[operator]
    times: dict[str, list[float]] = {k: [] for k in calls}
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or min(len(v) for v in times.values()) < 10:
        for name, fn in calls.items():
            t0 = time.perf_counter()
            for _ in range(block):
                fn()  # type: ignore[operator]
            times[name].append((time.perf_counter() - t0) / block * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def ort_calls(models: dict[str, tuple[object, Path]]) -> dict[str, object]:
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    feed = np.zeros((1, 3, 224, 224), np.float32)
    out = {}
    for name, (_, path) in models.items():
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        out[name] = lambda s=session, i=input_name: s.run(None, {i: feed})
    return out


def eager_calls(models: dict[str, tuple[object, Path]]) -> dict[str, object]:
    import torch

    x = torch.zeros(1, 3, 224, 224)
    out = {}
    for name, (model, _) in models.items():

        def call(m: object = model) -> None:
            with torch.inference_mode():
                m(x)  # type: ignore[operator]

        out[name] = call
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backbone", default="mbv2")
    ap.add_argument("--modules", default="se,ca")
    ap.add_argument("--seconds", type=float, default=15.0, help="per model and tool")
    ap.add_argument("--block", type=int, default=10, help="calls per block in the plain loops")
    ap.add_argument("--max-time", type=float, default=60.0, help="attnbench's --max-time")
    ap.add_argument("--tolerance", type=float, default=3.0, help="percentage points")
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    modules = [m for m in args.modules.split(",") if m]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="attnbench-vs-tools-") as tmp:
        models = export_models(modules, args.backbone, Path(tmp))
        for k in range(args.rounds):
            ours = attnbench_shares(modules, args.backbone, args.max_time)
            names = list(models) if k % 2 == 0 else [n for n in reversed(list(models))]
            app = {n: benchmark_app_ms(models[n][1], args.seconds) for n in names}
            ort_ms = interleaved_ms(ort_calls(models), args.block, args.seconds * len(models))
            eager_ms = interleaved_ms(eager_calls(models), args.block, args.seconds * len(models))
            for runtime, tools in (
                ("openvino", {"benchmark_app": app}),
                ("onnxruntime", {"plain loop": ort_ms}),
                ("eager", {"plain loop": eager_ms}),
            ):
                for m in modules:
                    a = ours.get((runtime, m))
                    if a is None:
                        continue
                    rows.append(
                        {
                            "round": k,
                            "runtime": runtime,
                            "module": m,
                            "source": "attnbench",
                            "share_pct": a["share"],
                            "ci_low_pct": a["low"],
                            "ci_high_pct": a["high"],
                            "module_ms": a["module_ms"],
                            "none_ms": "",
                        }
                    )
                    for tool, ms in tools.items():
                        rows.append(
                            {
                                "round": k,
                                "runtime": runtime,
                                "module": m,
                                "source": tool,
                                "share_pct": 100 * (ms[m] / ms["none"] - 1),
                                "ci_low_pct": "",
                                "ci_high_pct": "",
                                "module_ms": ms[m],
                                "none_ms": ms["none"],
                            }
                        )
            for r in rows:
                if r["round"] == k:
                    print(f"round {k}: {r['runtime']:12s} {r['module']:4s} {r['source']:14s} {r['share_pct']:+6.1f} %")
            sys.stdout.flush()
    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    print(f"\nmedian over {args.rounds} rounds (share %, attnbench with its median 95 % interval):")
    ok = True
    keys = sorted({(r["runtime"], r["module"]) for r in rows})
    for runtime, m in keys:
        mine = [r for r in rows if (r["runtime"], r["module"], r["source"]) == (runtime, m, "attnbench")]
        share = statistics.median(float(r["share_pct"]) for r in mine)  # type: ignore[arg-type]
        low = statistics.median(float(r["ci_low_pct"]) for r in mine if r["ci_low_pct"] not in ("", None))  # type: ignore[arg-type]
        high = statistics.median(float(r["ci_high_pct"]) for r in mine if r["ci_high_pct"] not in ("", None))  # type: ignore[arg-type]
        for tool in sorted({str(r["source"]) for r in rows if r["source"] != "attnbench" and r["runtime"] == runtime}):
            theirs = statistics.median(
                float(r["share_pct"])
                for r in rows  # type: ignore[arg-type]
                if (r["runtime"], r["module"], r["source"]) == (runtime, m, tool)
            )
            agree = abs(share - theirs) <= args.tolerance or low <= theirs <= high
            ok &= agree
            print(
                f"{runtime:12s} {m:4s} attnbench {share:+6.1f} % [{low:+.1f}, {high:+.1f}]  {tool:14s} "
                f"{theirs:+6.1f} %  {'agrees' if agree else 'DIFFERS'} (|Δ| {abs(share - theirs):.1f} pp)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
