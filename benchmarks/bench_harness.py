"""Wall time of ``attnbench profile`` against a plain script making the same measurements, as ratios in one run.

    python benchmarks/bench_harness.py                            # profile --module ca --backbone mbv2, 5 pairs
    python benchmarks/bench_harness.py --pairs 7 -- --batch 32    # anything after -- goes to `attnbench profile`
    python benchmarks/bench_harness.py --against /tmp/lat-before --against-python /tmp/lat-before/.venv/bin/python \\
        -- --batch 32                                             # this checkout against another one, same command

Default mode: each round runs, as subprocesses and one after the other, ``attnbench profile --module ca --backbone
mbv2 ... --format json`` and then the plain script twice, in alternating order. The plain script (``plain`` below,
run as ``bench_harness.py plain ...``) is what one would write by hand: build the two models with
``attnbench.modules.create_model`` (the model code alone), count them with fvcore's ``FlopCountAnalysis`` and
parameter sums, and time both with ``torch.utils.benchmark.Timer`` under ``inference_mode``: the same warm-up calls,
then the same number of samples of the same number of calls as the attnbench run of that round (read from its
JSON), interleaved. Two ways to take the samples:

- ``timeit``: one ``Timer.timeit(calls)`` per sample, the textbook use (each call of it warms up 2 more calls);
- ``block``: one ``Timer.timeit(samples · calls)`` per model, the fewest forward calls the same timing can make.

Against mode: each round runs the same ``attnbench profile`` command from this checkout and from ``--against``
(with its own Python), alternating which goes first, and reports new / old.

Each ratio is formed within a round; the median and min-max over rounds are printed. Targets from the issue:
attnbench / plain ≤ 1.3 (against the ``block`` script, the stricter one) and, with ``--batch 32`` against the
checkout before the change, new / old ≤ 0.5. The exit code is 1 when the target of the mode is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ["profile", "--module", "ca", "--backbone", "mbv2"]


def plain(argv: list[str]) -> None:
    """The plain script: counts with fvcore, timing with torch.utils.benchmark.Timer, nothing else."""
    ap = argparse.ArgumentParser(prog="bench_harness.py plain")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--input", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--samples", type=int, required=True)
    ap.add_argument("--calls", type=int, nargs=2, required=True, help="calls per sample: none, ca")
    ap.add_argument("--way", choices=("timeit", "block"), required=True)
    args = ap.parse_args(argv)

    import torch
    from fvcore.nn import FlopCountAnalysis
    from torch.utils.benchmark import Timer

    import attnbench.modules as M

    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.input, args.input)
    models = {name: M.create_model("mbv2", name, width=1.0, num_classes=1000).eval() for name in ("none", "ca")}
    counts = {}
    for name, m in models.items():
        flops = FlopCountAnalysis(m, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        counts[name] = (sum(p.numel() for p in m.parameters()), flops.total(), dict(flops.by_operator()))
    timers = {n: Timer(stmt="m(x)", globals={"m": m, "x": x}, num_threads=args.threads) for n, m in models.items()}
    calls = dict(zip(models, args.calls))
    samples: dict[str, list[float]] = {n: [] for n in models}
    with torch.inference_mode():
        for t in timers.values():
            t.timeit(args.warmup)
        if args.way == "timeit":
            for _ in range(args.samples):
                for n, t in timers.items():
                    samples[n].append(t.timeit(calls[n]).median)
        else:
            for n, t in timers.items():
                samples[n].append(t.timeit(args.samples * calls[n]).median)
    med = {n: statistics.median(s) for n, s in samples.items()}
    print(json.dumps({"counts": counts, "median_ms": {n: 1e3 * v for n, v in med.items()}}))


def run(cmd: list[str], cwd: Path, python: str = sys.executable) -> tuple[float, str]:
    """Wall seconds of ``python cmd...`` in ``cwd``, and its stdout; a failure ends the benchmark."""
    env = {**os.environ, "NO_COLOR": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([python, *cmd], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0,):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def spread(xs: list[float], digits: int = 2) -> str:
    return f"{statistics.median(xs):.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def _option(extra: list[str], name: str, default: str) -> str:
    return extra[extra.index(name) + 1] if name in extra else default


def against_plain(pairs: int, extra: list[str]) -> int:
    profile = ["-m", "attnbench", *PROFILE, *extra, "--format", "json"]
    walls: dict[str, list[float]] = {"attnbench": [], "timeit": [], "block": []}
    samples = []
    for r in range(pairs):
        wall, out = run(profile, ROOT)
        rows = {row["module"]: row for row in json.loads(out)}
        n = rows["ca"]["latency_n"]
        samples.append(n)
        walls["attnbench"].append(wall)
        plain_args = [
            str(Path(__file__)),
            "plain",
            "--samples",
            str(n),
            "--calls",
            *(str(rows[m]["latency_calls_per_sample"]) for m in ("none", "ca")),
            *(
                a
                for o in ("--batch", "--input", "--threads", "--warmup")
                for a in (o, _option(extra, o, ""))
                if _option(extra, o, "")
            ),
        ]
        for way in ("timeit", "block") if r % 2 == 0 else ("block", "timeit"):
            walls[way].append(run([*plain_args, "--way", way], ROOT)[0])
        print(
            f"round {r + 1}/{pairs}: {n} samples; " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in walls.items()),
            file=sys.stderr,
            flush=True,
        )
    print(
        f"attnbench {' '.join(PROFILE + extra)} vs a plain fvcore + torch.utils.benchmark.Timer script, {pairs} "
        f"rounds, samples per model {spread([float(s) for s in samples], 0)}"
    )
    print(f"{'wall s':<34}median (min-max)")
    for k, v in walls.items():
        print(f"{k:<34}{spread(v)}")
    ratios = {}
    for way in ("timeit", "block"):
        ratios[way] = [a / b for a, b in zip(walls["attnbench"], walls[way])]
        print(f"{'attnbench / plain (' + way + ')':<34}{spread(ratios[way], 3)}")
    ok = statistics.median(ratios["block"]) <= 1.3
    print(f"target attnbench / plain (block) ≤ 1.3: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def against_checkout(pairs: int, extra: list[str], other: Path, python: str) -> int:
    cmd = ["-m", "attnbench", *PROFILE, *extra, "--format", "json"]
    walls: dict[str, list[float]] = {"new": [], "old": []}
    sides = {"new": (ROOT, sys.executable), "old": (other, python)}
    for r in range(pairs):
        for side in ("new", "old") if r % 2 == 0 else ("old", "new"):
            walls[side].append(run(cmd, *sides[side])[0])
        print(
            f"pair {r + 1}/{pairs}: new {walls['new'][-1]:.1f} s, old {walls['old'][-1]:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    ratios = [a / b for a, b in zip(walls["new"], walls["old"])]
    print(f"attnbench {' '.join(PROFILE + extra)}: {ROOT} (new) against {other} (old), {pairs} pairs")
    print(f"{'wall s':<12}median (min-max)")
    for k, v in walls.items():
        print(f"{k:<12}{spread(v)}")
    print(f"{'new / old':<12}{spread(ratios, 3)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["plain"]:
        plain(argv[1:])
        return 0
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=5, help="rounds (at least 3; 5 or more for a spread worth reading)")
    ap.add_argument("--against", type=Path, help="another checkout to compare this one with")
    ap.add_argument("--against-python", default=sys.executable, help="the Python of --against (its own venv)")
    args = ap.parse_args(own)
    if args.pairs < 3:
        ap.error("--pairs must be at least 3")
    if args.against is not None:
        return against_checkout(args.pairs, extra, args.against, args.against_python)
    return against_plain(args.pairs, extra)


if __name__ == "__main__":
    sys.exit(main())
