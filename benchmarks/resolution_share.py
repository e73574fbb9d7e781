"""Each module's latency share and element-wise share against input resolution, in the backbone and inside each
dense model, on eager and the deployment runtimes: one command, resumable, ending in a CSV, a summary and a PNG.

    python benchmarks/resolution_share.py                                  # the full grid into results/resolution/
    python benchmarks/resolution_share.py --inputs 224,320 --models backbone,ssdlite --runtimes eager --max-time 20

The grid: modules ``se,cbam,ca`` (each beside ``none``, timed in the same interleaved rounds) × models (``backbone``:
MobileNetV2-1.0 as a classifier; ``ssdlite``: SSDLite320's network, COCO config; ``deeplabv3-os16`` and
``deeplabv3-os8``: DeepLabV3, 21 classes; ``lraspp``) × square inputs × runtimes, batch 1, float32, one thread.
Each model is one ``attnbench sweep`` appending to ``OUT/sweep.csv`` with ``--resume``, so a killed run goes on
where it stopped. Then ``OUT/share.csv`` holds, per (model, runtime, input, module): the latency share
``d_latency_pct`` with its 95 % interval (paired rounds, see docs/measurement.md) and the element-wise share
``d_elementwise_pct`` (the module's added element-wise ops over the baseline's), and ``OUT/share.png`` plots both
against the input side, one panel per model and runtime.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

MODELS = {
    "backbone": [],
    "ssdlite": ["--head", "ssdlite"],
    "deeplabv3-os16": ["--head", "deeplabv3", "--output-stride", "16"],
    "deeplabv3-os8": ["--head", "deeplabv3", "--output-stride", "8"],
    "lraspp": ["--head", "lraspp"],
}
"""The models of the grid: the sweep options that build each."""


def model_of(row: dict[str, object]) -> str:
    head = row.get("head") or ""
    if not head or head != head:  # empty, or NaN from pandas
        return "backbone"
    if head == "deeplabv3":
        return f"deeplabv3-os{int(row['output_stride'])}"  # type: ignore[call-overload]
    return str(head)


def run_sweeps(args: argparse.Namespace, csv: Path) -> int:
    status = 0
    for model in args.models.split(","):
        cmd = [
            sys.executable,
            "-m",
            "attnbench",
            "sweep",
            "--modules",
            args.modules,
            "--backbones",
            args.backbone,
            "--inputs",
            args.inputs,
            *MODELS[model],
            "--runtime",
            args.runtimes,
            "--threads",
            str(args.threads),
            "--repeats",
            str(args.repeats),
            "--max-time",
            str(args.max_time),
            "--csv",
            str(csv),
            "--resume",
            "--quiet",
            "--format",
            "csv",
        ]
        print(f"resolution_share: {model} ({args.inputs} px, {args.runtimes})", flush=True)
        rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False).returncode
        if rc:
            print(f"resolution_share: the {model} sweep ended with exit {rc} (its failed rows are in {csv})")
            status = status or rc
    return status


def summarise(csv: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.read_csv(csv)
    frame = frame[frame["status"] == "ok"].copy()
    frame["model"] = [model_of(r) for r in frame.to_dict("records")]
    frame["side"] = frame["input_size"].astype(str).str.split("x").str[0].astype(int)
    keys = ["model", "runtime", "quantize", "side"]
    base = frame[frame["module"] == "none"].set_index(keys)["elementwise_ops"]
    rows = frame[frame["module"] != "none"].copy()
    rows["d_elementwise_pct"] = [
        100 * r["d_elementwise_ops"] / base.get(tuple(r[k] for k in keys), float("nan"))
        for r in rows.to_dict("records")
    ]
    columns = [
        *keys,
        "module",
        "latency_ms_median",
        "d_latency_pct",
        "d_latency_pct_ci_low",
        "d_latency_pct_ci_high",
        "d_elementwise_pct",
        "latency_n",
        "allocator",
        "timestamp_utc",
    ]
    share = rows[columns].sort_values(keys + ["module"])
    share.to_csv(out / "share.csv", index=False)
    panels = share.groupby(["model", "runtime"], sort=False)
    models = list(dict.fromkeys(share["model"]))
    runtimes = list(dict.fromkeys(share["runtime"]))
    # One row per model, one column per runtime.
    fig, axes = plt.subplots(
        len(models), len(runtimes), figsize=(4.4 * len(runtimes), 3.2 * len(models)), squeeze=False
    )
    for (model, runtime), group in panels:
        ax = axes[models.index(model)][runtimes.index(runtime)]
        for module, g in group.groupby("module"):
            g = g.sort_values("side")
            line = ax.errorbar(
                g["side"],
                g["d_latency_pct"],
                yerr=[g["d_latency_pct"] - g["d_latency_pct_ci_low"], g["d_latency_pct_ci_high"] - g["d_latency_pct"]],
                marker="o",
                capsize=3,
                label=f"{module} latency",
            )
            ax.plot(
                g["side"], g["d_elementwise_pct"], linestyle="--", color=line[0].get_color(), label=f"{module} elem-ops"
            )
        ax.set_title(f"{model} · {runtime}", fontsize=9)
        ax.set_xlabel("input side (px)")
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("share over 'none' (%)")
    axes[0][-1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "share.png", dpi=120)
    print(f"resolution_share: {len(share)} rows in {out / 'share.csv'}, plot {out / 'share.png'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("results/resolution"), help="folder for sweep.csv, share.*")
    p.add_argument("--modules", default="se,cbam,ca")
    p.add_argument("--backbone", default="mbv2")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma list of: {', '.join(MODELS)}")
    p.add_argument("--inputs", default="224,320,512,768,1024")
    p.add_argument("--runtimes", default="eager,onnxruntime,openvino")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--max-time", type=float, default=60.0, help="seconds of timing per model and input")
    p.add_argument("--summary-only", action="store_true", help="only summarise OUT/sweep.csv")
    args = p.parse_args()
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    csv = args.out / "sweep.csv"
    status = 0 if args.summary_only else run_sweeps(args, csv)
    if csv.exists():
        summarise(csv, args.out)
    return status


if __name__ == "__main__":
    sys.exit(main())
