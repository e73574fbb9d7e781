"""Training throughput of ``attnbench.ablation.train`` against a plain hand-written PyTorch loop, as a ratio in one run.

    python benchmarks/bench_train.py                          # mbv2 ×0.35, ca, 24 px synthetic, batch 64, 1 thread
    python benchmarks/bench_train.py --module none --input 32 --threads 2 --rounds 9

Both sides train the same architecture from the same initial weights on the same synthetic images, with the same
batch, SGD settings, thread count and memory format (``channels_last``, as ``attnbench ablate`` trains; the plain
loop's model and pre-normalised inputs are converted once, up front). The plain loop is the textbook one (slice a
pre-normalised float tensor, forward, cross-entropy, zero_grad, backward, step) and gets every advantage: no
sampler, no augmentation call, no learning-rate schedule, no loss checks, no determinism switch.
``attnbench.ablation.train`` runs one epoch of ``train_and_evaluate`` (without the per-epoch learning curve); its own
``throughput_ips`` (training loop only, evaluation excluded) is used. ``--contiguous`` runs both sides in the
default memory format instead.

Rounds are interleaved (the order alternates every round) so drift and other load on the machine hit both sides
alike; the ratio is formed per round, and the median ratio is reported with its min-max over rounds. Target from
the issue: median ratio ≥ 0.95. The exit code is 1 below the target.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

import attnbench.modules as M
from attnbench.ablation.data import DataRef, SyntheticOptions, load_data
from attnbench.ablation.train import TrainConfig, train_and_evaluate

TARGET = 0.95


def plain_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, lr: float, wd: float) -> float:
    """Images per second of the textbook loop over ``x`` (already normalised float), one pass."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    model.train()
    n = (len(x) // batch) * batch
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        out = model(x[i : i + batch])
        loss = F.cross_entropy(out, y[i : i + batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backbone", default="mbv2")
    ap.add_argument("--module", default="ca")
    ap.add_argument("--width", type=float, default=0.35)
    ap.add_argument("--input", type=int, default=24)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="Training steps per measurement.")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--contiguous", action="store_true", help="Both sides in the default memory format.")
    args = ap.parse_args(argv)
    channels_last = not args.contiguous
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    torch.set_num_threads(args.threads)
    n = args.steps * args.batch
    data = load_data(DataRef("synthetic"), args.input, SyntheticOptions(train_samples=n, test_samples=args.batch))
    torch.manual_seed(0)
    init = M.create_model(
        args.backbone, args.module, width=args.width, num_classes=data.num_classes, small_input=args.input <= 64
    )
    # The plain loop gets its inputs pre-normalised and in its memory format, for free.
    x = data.train_transform(data.train.images).contiguous(memory_format=fmt)
    y = data.train.labels
    cfg = TrainConfig(
        epochs=1,
        batch=args.batch,
        lr=0.05,
        weight_decay=4e-5,
        seed=0,
        eval_batch=args.batch,
        channels_last=channels_last,
    )

    def ours() -> float:
        return train_and_evaluate(copy.deepcopy(init), data, cfg).throughput_ips

    def plain() -> float:
        return plain_loop(copy.deepcopy(init).to(memory_format=fmt), x, y, args.batch, cfg.lr, cfg.weight_decay)

    ours(), plain()  # warm-up: allocator, oneDNN primitive caches
    ours_ips: list[float] = []
    plain_ips: list[float] = []
    for r in range(args.rounds):
        if r % 2 == 0:
            ours_ips.append(ours())
            plain_ips.append(plain())
        else:
            plain_ips.append(plain())
            ours_ips.append(ours())
    ratios = [a / b for a, b in zip(ours_ips, plain_ips)]
    med = statistics.median(ratios)
    print(
        f"{args.backbone} ×{args.width:g} + {args.module}, {args.input} px synthetic, batch {args.batch}, "
        f"{args.steps} steps per sample, {args.rounds} interleaved rounds, {args.threads} thread(s), "
        f"{'channels_last' if channels_last else 'contiguous'}, torch {torch.__version__}"
    )
    print(f"{'':<16}{'median':>10}{'min':>10}{'max':>10}")
    for name, vals in (("attnbench img/s", ours_ips), ("plain img/s", plain_ips)):
        print(f"{name:<16}{statistics.median(vals):>10.1f}{min(vals):>10.1f}{max(vals):>10.1f}")
    print(f"{'ratio':<16}{med:>10.3f}{min(ratios):>10.3f}{max(ratios):>10.3f}")
    ok = med >= TARGET
    print(
        f"attnbench / plain = {med:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); target ≥ {TARGET}: "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
