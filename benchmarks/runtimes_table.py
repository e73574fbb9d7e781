"""The runtime tables of ``docs/runtimes.md``, generated from ``results/runtimes.csv``: per backbone, each module's
latency share over ``none`` on the same runtime and quantization, with its 95 % interval, and the ranking.

    python benchmarks/runtimes_table.py                          # print the tables (Markdown)
    python benchmarks/runtimes_table.py --write docs/runtimes.md   # replace the block between the page's markers

A test checks that the page's block equals what this prints, so the table cannot drift from the CSV. A cell is
``–`` where the configuration has no ok row (a failed row, or one not measured). Rounding happens here only; the CSV
holds the raw numbers.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- runtimes-table: begin (python benchmarks/runtimes_table.py --write docs/runtimes.md) -->"
END = "<!-- runtimes-table: end -->"
RUNTIME_ORDER = ("eager", "compile", "onnxruntime", "openvino", "executorch")
NAMES = {
    "mbv2": "MobileNetV2",
    "mnext": "MobileNeXt",
    "mbv3_large": "MobileNetV3-Large",
    "effnet_b0": "EfficientNet-B0",
}
HEADS = {"deeplabv3": "DeepLabV3", "lraspp": "LR-ASPP", "ssdlite": "SSDLite320", "ssdlite_voc": "SSDLite320 (VOC)"}


def _share(row: dict[str, str] | None) -> str:
    if row is None or row.get("d_latency_pct", "") == "":
        return "–"
    low, high = row.get("d_latency_pct_ci_low", ""), row.get("d_latency_pct_ci_high", "")
    interval = f" [{float(low):+.1f}, {float(high):+.1f}]" if low != "" and high != "" else ""
    return f"{float(row['d_latency_pct']):+.1f}{interval}"


def tables(path: Path) -> str:
    """The Markdown of every backbone's table, from the ok rows of ``path`` (the last row of a configuration wins)."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]

    def model(r: dict[str, str]) -> tuple[str, str, str, str]:
        return r["backbone"], r.get("head", ""), r.get("output_stride", ""), r["input_size"]

    cells: dict[tuple[tuple[str, str, str, str], str, str, str], dict[str, str]] = {}
    for r in rows:
        cells[(model(r), r["runtime"] or r["build"], r["quantize"] or "none", r["module"])] = r
    out = []
    for key in dict.fromkeys(model(r) for r in rows):
        backbone, head, stride, size = key
        first = next(r for r in rows if model(r) == key)
        modules = [m for m in dict.fromkeys(r["module"] for r in rows if model(r) == key) if m != "none"]
        name = f"{NAMES.get(backbone, backbone)}-{float(first['width'])}"
        if head:
            name += f" + {HEADS.get(head, head)} (output stride {stride})"
        side = f"{size}×{size}" if "x" not in size else size.replace("x", "×")
        title = (
            f"**{name}, {side}, batch {first['batch']}, {first['threads']} thread: latency share Δlat % [95 % "
            "interval] of each module over `none` on the same runtime**"
        )
        out += [title, "", f"| runtime | quantize | none ms | {' | '.join(modules)} | ranking (cheapest first) |"]
        out.append(f"|---|---|---:|{'---:|' * len(modules)}---|")
        configs = dict.fromkeys((k[1], k[2]) for k in cells if k[0] == key)
        ordered = sorted(
            configs, key=lambda c: (c[1] != "none", RUNTIME_ORDER.index(c[0]) if c[0] in RUNTIME_ORDER else 99)
        )
        for runtime, quantize in ordered:
            base = cells.get((key, runtime, quantize, "none"))
            shares = {m: cells.get((key, runtime, quantize, m)) for m in modules}
            timed = {m: float(r["d_latency_pct"]) for m, r in shares.items() if r and r.get("d_latency_pct", "") != ""}
            ranking = " < ".join(sorted(timed, key=timed.__getitem__))
            none_ms = f"{float(base['latency_ms_median']):.2f}" if base and base["latency_ms_median"] else "–"
            out.append(
                f"| {runtime} | {quantize} | {none_ms} | {' | '.join(_share(shares[m]) for m in modules)} | {ranking} |"
            )
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def block(path: Path) -> str:
    """The page's block: the markers around the tables."""
    return f"{BEGIN}\n\n{tables(path)}\n{END}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=ROOT / "results" / "runtimes.csv")
    ap.add_argument("--write", type=Path, default=None, help="a Markdown file whose marked block to replace")
    args = ap.parse_args()
    if args.write is None:
        print(tables(args.csv), end="")
        return 0
    text = args.write.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"{args.write} has no '{BEGIN}' ... '{END}' block; add the two markers where the tables go.")
        return 2
    head, rest = text.split(BEGIN, 1)
    args.write.write_text(head + block(args.csv) + rest.split(END, 1)[1], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
