"""The tuning pilot of the ``ca-dense`` preset: one baseline run of a segmentation head on the dense task's data
seed 1 (the committed run evaluates seed 0), printing final train loss, pixel accuracy and mean IoU.

Usage: python dense_pilot.py HEAD OUTPUT_STRIDE LR EPOCHS CUE MODULES [GRID]
e.g.   python dense_pilot.py lraspp 16 0.1 30 row none 4

It calls attnbench's own pieces (make_dense, train_and_evaluate, evaluate_miou) with the preset's other settings;
the model is initialised from torch.manual_seed(0), not through ablate's shared-initialisation build.
"""

import sys, time, torch
from attnbench import modules
from attnbench.ablation.data import ImageData, BatchTransform
from attnbench.ablation.dense import DenseOptions, make_dense, evaluate_miou
from attnbench.ablation.train import TrainConfig, train_and_evaluate
torch.set_num_threads(1)
head, os_, lr, epochs, cue = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
mods = sys.argv[6].split(",")
grid = int(sys.argv[7]) if len(sys.argv) > 7 else 4
opts = DenseOptions(cue=cue, size=64, grid=grid, train_samples=2000, test_samples=500, seed=1)
tr, te = make_dense(opts)
x = tr.images[:1000].float()/255; mean = tuple(x.mean((0,2,3)).tolist()); std = tuple(x.std((0,2,3)).tolist())
t = BatchTransform("none", 64, mean, std)
data = ImageData("dense", 4, tr, te, t, t)
for m in mods:
    torch.manual_seed(0)
    model = modules.create_model("mbv2", m, width=0.35, head=head, num_classes=4, output_stride=os_ if head=="deeplabv3" else None)
    t0 = time.time()
    r = train_and_evaluate(model, data, TrainConfig(epochs=epochs, batch=64, lr=lr, weight_decay=5e-4, warmup_epochs=1, seed=0, curve_samples=0))
    mi = evaluate_miou(model, te, t, 4)
    print(grid, head, os_, lr, epochs, cue, m, f"loss {r.final_loss:.4f} pixacc {r.top1:.4f} miou {mi.miou:.4f} per {[round(v,3) for v in mi.per_class]} {time.time()-t0:.0f}s", flush=True)
