"""The tuning pilot of ``attnbench ablate --preset ca-dense``: baseline runs of a segmentation head on the dense
task's data seed 1 (the committed run evaluates seed 0), one line per run with the final training loss, pixel
accuracy, mean IoU and the IoU of each class.

    python benchmarks/dense_pilot.py --head lraspp --lr 0.1 --epochs 30            # one line of the committed log
    python benchmarks/dense_pilot.py --head deeplabv3 --output-stride 16 --lr 0.05 --epochs 12

It calls attnbench's own pieces (``make_dense``, ``train_and_evaluate``, ``evaluate_miou``) with the preset's
other settings (MobileNetV2 width 0.35 at 64 px, 2,000 training and 500 test images, batch 64, weight decay 5e-4,
one warm-up epoch, one thread). The model is initialised from ``torch.manual_seed(0)``, not through ``ablate``'s
shared-initialisation build. Results and their reading: ``results/ablation/dense-pilot/``.
"""

from __future__ import annotations

import argparse
import time

import torch

from attnbench import modules
from attnbench.ablation.data import BatchTransform, ImageData
from attnbench.ablation.dense import DenseOptions, evaluate_miou, make_dense
from attnbench.ablation.train import TrainConfig, train_and_evaluate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--head", default="lraspp", choices=("lraspp", "deeplabv3"))
    p.add_argument("--output-stride", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--cue", default="row")
    p.add_argument("--modules", default="none")
    p.add_argument("--grid", type=int, default=4)
    args = p.parse_args()
    torch.set_num_threads(1)
    opts = DenseOptions(cue=args.cue, size=64, grid=args.grid, train_samples=2000, test_samples=500, seed=1)
    train, test = make_dense(opts)
    x = train.images[:1000].float() / 255
    norm = BatchTransform("none", 64, tuple(x.mean((0, 2, 3)).tolist()), tuple(x.std((0, 2, 3)).tolist()))
    data = ImageData("dense", opts.num_classes, train, test, norm, norm)
    for name in args.modules.split(","):
        torch.manual_seed(0)
        model = modules.create_model(
            "mbv2", name, width=0.35, head=args.head, num_classes=opts.num_classes, output_stride=args.output_stride
        )
        t0 = time.time()
        cfg = TrainConfig(epochs=args.epochs, batch=64, lr=args.lr, weight_decay=5e-4, warmup_epochs=1, seed=0)
        result = train_and_evaluate(model, data, cfg)
        score = evaluate_miou(model, test, norm, opts.num_classes)
        per = [round(v, 3) for v in score.per_class]
        print(
            f"grid {args.grid} {args.head} {args.output_stride} {args.lr} {args.epochs} {args.cue} {name} "
            f"loss {result.final_loss:.4f} pixacc {result.top1:.4f} miou {score.miou:.4f} per {per} "
            f"{time.time() - t0:.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
