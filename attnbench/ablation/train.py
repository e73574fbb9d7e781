"""One training recipe for every variant of an ablation, returning an ``AccuracyResult``; nothing here prints.

The recipe: SGD with momentum (0.9) and weight decay on conv/linear weights only (biases and norm parameters are
not decayed, as timm does by default), a per-step cosine learning-rate schedule to zero with an optional linear
warm-up, cross-entropy with optional label smoothing, and evaluation once at the end on the held-out split.

Determinism: every source of randomness is derived from ``(seed, epoch)`` — the sampler's shuffle, the
augmentation draws and the global generator that dropout uses — and ``torch.use_deterministic_algorithms`` is on
for the duration, so on CPU the same seed and thread count give bit-identical weights, losses and accuracies. A
run resumed from an epoch checkpoint continues exactly as an uninterrupted one. On CUDA it is best effort
(``warn_only``; some cuDNN/cuBLAS kernels have no deterministic variant).

Distributed: under ``torchrun`` (``init_distributed``) the model is wrapped in ``DistributedDataParallel`` (gloo on
CPU, nccl on CUDA), the training indices come from a ``DistributedSampler``, ``batch`` is the *global* batch split
evenly over the processes, the test split is sharded without padding, and losses, accuracies and image counts are
summed over ranks, so every rank returns the same ``AccuracyResult``.

A NaN or infinite training loss ends the run early with ``status="failed"`` and the reason; the caller carries on.
Progress goes to an optional callback, checkpoints to an optional path (``torch.save``; read back only with
``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, DeviceUnavailableError, FileWriteError, UsageError, opt
from .data import BatchTransform, ImageData, Split

__all__ = [
    "AccuracyResult",
    "CheckpointError",
    "DistContext",
    "Evaluation",
    "TrainConfig",
    "TrainProgress",
    "AllReduceBatchNorm2d",
    "convert_sync_bn",
    "evaluate",
    "init_distributed",
    "lr_at",
    "train_and_evaluate",
]


@dataclass(frozen=True)
class TrainConfig:
    """The recipe of one run.

    Args:
        epochs: passes over the training split.
        batch: global batch size (split evenly over distributed processes).
        lr: peak learning rate (reached after warm-up), for the global batch.
        momentum: SGD momentum.
        weight_decay: L2 penalty on conv/linear weights.
        warmup_epochs: linear warm-up length in epochs (may be fractional); 0 for none.
        label_smoothing: cross-entropy label smoothing in [0, 1).
        seed: the run's seed (initialisation is the caller's; this one drives shuffling, augmentation, dropout).
        device: ``cpu`` or ``cuda[:N]``.
        num_workers: ``DataLoader`` workers for data decoded per batch (in-memory data ignores it).
        eval_batch: evaluation batch per process; ``None`` uses ``2 · batch``.
        check_every: steps between progress reports and non-finite-loss checks (one sync each).
        channels_last: model and batches in ``torch.channels_last`` memory format (same numbers within float
            tolerance; faster convolutions on CPU and CUDA).
        sync_bn: under DDP, BatchNorm statistics over the global batch (``SyncBatchNorm`` on CUDA, an all-reduce of
            the per-channel sums on CPU); off: each process normalises with its own share of the batch.
        curve_samples: after every epoch, evaluate on the first this many test images (0: no curve).
        amp: ``none``, ``bf16`` (bfloat16 autocast, CPU or CUDA) or ``fp16`` (float16 autocast with a gradient
            scaler, CUDA); the loss, the optimizer and the weights stay float32.
        compile: run training and evaluation forwards through ``torch.compile`` (the first steps compile).
    """

    epochs: int
    batch: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 4e-5
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0
    eval_batch: int | None = None
    check_every: int = 10
    channels_last: bool = True
    sync_bn: bool = False
    curve_samples: int = 0
    amp: str = "none"
    compile: bool = False


def autocast(amp: str, device: str) -> contextlib.AbstractContextManager[object]:
    """The autocast context of ``amp`` on ``device`` (a no-op for ``none``)."""
    if amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


@dataclass(frozen=True)
class TrainProgress:
    """A progress report: where the run is, and the running training loss and accuracy of the epoch so far."""

    epoch: int
    """1-based."""
    epochs: int
    step: int
    """Steps done in this epoch (1-based)."""
    steps: int
    loss: float
    accuracy: float
    """Running training top-1 of the epoch, a fraction in [0, 1]."""


@dataclass(frozen=True)
class AccuracyResult:
    """What one training run achieved. Accuracies are fractions in [0, 1]."""

    status: str
    """``ok`` or ``failed``."""
    top1: float | None
    top5: float | None
    """``None`` when there are fewer than 10 classes."""
    test_loss: float | None
    final_loss: float | None
    """Mean training loss of the last epoch run (non-finite for a failed run)."""
    train_seconds: float
    """Wall time of the training loop (evaluation and checkpoint writes excluded)."""
    throughput_ips: float
    """Training images per second over all processes."""
    epochs_done: int
    error: str = ""
    curve_top1: tuple[float, ...] = ()
    """Top-1 on the first ``curve_samples`` test images after each epoch (this run's epochs only when resumed from a
    checkpoint saved before curves were kept)."""
    predictions: torch.Tensor | None = None
    """Predicted class of every test image, in test order (``int64``); ``None`` for a failed run and for a dense
    task (its per-pixel predictions are summarised by ``miou``)."""
    miou: float | None = None
    """Dense tasks (label maps): mean IoU on the test split (``dense.mean_iou``); ``top1`` is then the pixel
    accuracy and ``curve_top1`` holds mean IoU per epoch. ``None`` for classification."""


class Evaluation(NamedTuple):
    """What ``evaluate`` measured: fractions and the mean loss per example (per pixel for label maps)."""

    top1: float
    top5: float | None
    loss: float
    miou: float | None = None
    """Label maps only: mean IoU from one confusion matrix over every pixel evaluated."""

    @property
    def score(self) -> float:
        """The run's score: mean IoU for label maps, top-1 otherwise."""
        return self.miou if self.miou is not None else self.top1


@dataclass(frozen=True)
class DistContext:
    """This process's place in a distributed run (world size 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(
    device: str, rank: int, world_size: int, local_rank: int, *, fewer: str = "start fewer processes per node"
) -> tuple[DistContext, str]:
    """Join the process group torchrun set up (gloo on CPU, nccl on CUDA); returns the context and this rank's device.

    ``device`` ``cuda`` becomes ``cuda:<local_rank>``. The rendezvous address comes from torchrun's environment.
    ``fewer`` is the fix named when a process has no GPU of its own (the CLI names torchrun's option).
    """
    if world_size <= 1:
        return DistContext(), device
    if device.startswith("cuda"):
        if device != "cuda":
            raise UsageError(
                f"{opt('device')} {device} under torchrun: pass {opt('device')} cuda; each process takes "
                "cuda:LOCAL_RANK."
            )
        if local_rank >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"torchrun process {local_rank} needs cuda:{local_rank}, but only {torch.cuda.device_count()} CUDA "
                f"device(s) exist; {fewer}."
            )
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", rank=rank, world_size=world_size)
    return DistContext(rank, world_size, local_rank), device


def _all_sum(values: list[float], dist: DistContext | None, device: str) -> list[float]:
    if dist is None or not dist.active:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.SUM)
    return t.tolist()


def _all_max(value: float, dist: DistContext | None, device: str) -> float:
    if dist is None or not dist.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return float(t.item())


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Learning rate before optimizer step ``step`` (0-based) of ``total``: linear warm-up, then cosine to 0."""
    if step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / span))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + 1) % (2**63)


def augmentation_generator(seed: int, epoch: int, rank: int = 0) -> torch.Generator:
    """The augmentation stream of one process in one epoch. One stream per rank, so the ranks' shares of a global
    batch are not augmented alike; rank 0's is the single-process stream (a one-process run is unchanged)."""
    return torch.Generator().manual_seed((_epoch_seed(seed, epoch) + 1 + 104_729 * rank) % (2**63))


@contextlib.contextmanager
def _deterministic(device: str) -> Iterator[None]:
    import torch.utils.deterministic as det

    was = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    was_fill = det.fill_uninitialized_memory
    bench = torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True, warn_only=device.startswith("cuda"))
    # Deterministic mode also fills every torch.empty with NaN (a debugging aid) at ~10 % of CPU training time;
    # results do not depend on it, because no kernel here reads memory it has not written.
    det.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=was_warn)
        det.fill_uninitialized_memory = was_fill  # type: ignore[attr-defined]
        torch.backends.cudnn.benchmark = bench


class AllReduceBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the global batch of a process group, on any device.

    torch's ``SyncBatchNorm`` runs only on GPUs; this one all-reduces the per-channel sums with the differentiable
    ``torch.distributed.nn.functional.all_reduce`` (two passes: the mean, then the squared deviations, as a single
    process computes them), so gradients flow through the statistics as in one process over the whole batch. Outside
    training, or without a process group of two or more, it is a plain ``BatchNorm2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch_dist.is_initialized() and torch_dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        c = x.shape[1]
        local_n = torch.full((1,), float(x.numel() // c), dtype=x.dtype, device=x.device)
        first = all_reduce(torch.cat((x.sum((0, 2, 3)), local_n)))
        n = first[c].detach()
        mean = first[:c] / n
        centred = x - mean.view(1, c, 1, 1)
        var = all_reduce((centred * centred).sum((0, 2, 3))) / n
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1  # type: ignore[operator]
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)  # type: ignore[arg-type]
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(float(n) - 1, 1.0)), alpha=m)
        y = centred * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return y


def convert_sync_bn(model: nn.Module, device: str) -> nn.Module:
    """Every ``BatchNorm2d`` of ``model`` synchronised over the process group (weights and statistics kept)."""
    if device.startswith("cuda"):
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)

    def swap(mod: nn.Module) -> nn.Module:
        if type(mod) is nn.BatchNorm2d:
            new = AllReduceBatchNorm2d(mod.num_features, mod.eps, mod.momentum, mod.affine, mod.track_running_stats)
            new.load_state_dict(mod.state_dict())
            new.train(mod.training)
            return new.to(next(iter(mod.state_dict().values())).device) if mod.state_dict() else new
        for name, child in mod.named_children():
            setattr(mod, name, swap(child))
        return mod

    return swap(model)


def _index_batches(indices: list[int], batch: int, drop_last: bool) -> list[list[int]]:
    n = len(indices)
    if drop_last and n >= batch:
        n -= n % batch
    return [indices[i : i + batch] for i in range(0, n, batch)]


def evaluate(
    model: nn.Module,
    split: Split,
    transform: BatchTransform,
    num_classes: int,
    batch: int,
    device: str,
    dist: DistContext | None = None,
    num_workers: int = 0,
    limit: int | None = None,
    channels_last: bool = False,
    predictions: list[torch.Tensor] | None = None,
    amp: str = "none",
) -> Evaluation:
    """Top-1, top-5 (``None`` under 10 classes) and mean loss of ``model`` on ``split``, summed over ranks.

    ``limit``: the first this many images only. ``predictions``: a list that receives one ``int64`` tensor, the
    predicted class of every image evaluated, in split order (gathered from every rank); left empty for label maps.
    ``amp``: the forward's autocast (``autocast``). With label maps (``N × H × W`` targets, logits ``N × C × H × W``)
    top-1 and the loss are per pixel and ``miou`` is filled (``dense.mean_iou``).
    """
    rank, world = (dist.rank, dist.world_size) if dist else (0, 1)
    n_eval = len(split) if limit is None else min(limit, len(split))
    idx = list(range(rank, n_eval, world))
    preds: list[torch.Tensor] = []
    k = 5 if num_classes >= 10 else 1
    sums = torch.zeros(4, dtype=torch.float64)  # correct1, correct5, loss sum, count
    matrix: torch.Tensor | None = None  # label maps: the confusion matrix over every pixel
    from .dense import confusion, mean_iou

    was_training = model.training
    model.eval()
    pin = device.startswith("cuda")
    with torch.no_grad():
        for xb, yb in split.batches(_index_batches(idx, batch, False), num_workers, pin):
            x = transform(xb.to(device, non_blocking=True))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = yb.to(device, non_blocking=True)
            with autocast(amp, device):
                out = model(x)
            out = out.float()
            top = out.topk(k, 1).indices
            if y.ndim > 1:
                part = confusion(top[:, 0].cpu(), y.cpu(), num_classes)
                matrix = part if matrix is None else matrix + part
            elif predictions is not None:
                preds.append(top[:, 0].cpu())
            hit = top == y[:, None]
            sums += torch.tensor(
                [
                    float(hit[:, 0].sum()),
                    float(hit.any(1).sum()),
                    float(F.cross_entropy(out, y, reduction="sum")),
                    float(y.numel()),
                ],
                dtype=torch.float64,
            )
    model.train(was_training)
    miou = None
    if matrix is not None:
        if dist is not None and dist.active:
            matrix = torch.tensor(_all_sum(matrix.double().flatten().tolist(), dist, device)).view_as(matrix).long()
        miou = mean_iou(matrix).miou
    elif predictions is not None:
        mine = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
        if dist is not None and dist.active:
            parts: list[torch.Tensor | None] = [None] * world
            torch_dist.all_gather_object(parts, mine)
            full = torch.empty(n_eval, dtype=torch.long)
            for r, part in enumerate(parts):
                assert part is not None
                full[r::world] = part
            mine = full
        predictions.append(mine)
    c1, c5, loss, n = _all_sum(sums.tolist(), dist, device)
    n = max(n, 1.0)
    return Evaluation(c1 / n, (c5 / n if k == 5 else None), loss / n, miou)


def load_checkpoint(path: Path, key: str) -> dict[str, object] | None:
    """The training state saved at ``path`` for the run ``key``; ``None`` when there is none.

    Raises:
        CheckpointError: the file cannot be read, or was saved by another configuration (exit 2).
    """
    if not path.exists():
        return None
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint '{path}' cannot be read ({type(exc).__name__}: {exc}); delete it to retrain."
        ) from None
    if not isinstance(ck, dict) or ck.get("key") != key:
        raise CheckpointError(
            f"checkpoint '{path}' belongs to another configuration; delete it or use another {opt('checkpoint_dir')}."
        )
    return ck


def _save_checkpoint(path: Path, state: dict[str, object]) -> None:
    """Replace ``path`` atomically (``csvfile.atomic_path``): the old checkpoint or the new one, never a part."""
    from ..io.csvfile import atomic_path

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(
            f"{opt('checkpoint_dir')} '{path.parent}' could not be created ({exc.strerror or exc}); "
            "choose another folder."
        ) from exc
    with atomic_path(path, option=opt("checkpoint_dir")) as tmp:
        try:
            torch.save(state, tmp)
        except RuntimeError as exc:  # torch's zip writer reports a failed write (a full disk) as a RuntimeError
            raise OSError(f"torch.save failed: {' '.join(str(exc).split())[:200]}") from exc


def train_and_evaluate(
    model: nn.Module,
    data: ImageData,
    cfg: TrainConfig,
    *,
    progress: Callable[[TrainProgress], None] | None = None,
    dist: DistContext | None = None,
    checkpoint: Path | None = None,
    checkpoint_key: str = "",
) -> AccuracyResult:
    """Train ``model`` on ``data.train`` with the recipe ``cfg``, then evaluate it on ``data.test``.

    Args:
        model: a freshly initialised network (the caller seeds its initialisation); moved to ``cfg.device``.
        data: the task.
        cfg: the recipe.
        progress: called every ``cfg.check_every`` steps and at the end of each epoch (pass it on rank 0 only).
        dist: the distributed context; ``None`` for a single process.
        checkpoint: a file to save the training state to after every epoch, and to resume from when it exists.
        checkpoint_key: a string identifying the configuration; a checkpoint with another key is refused.
    """
    dist = dist or DistContext()
    world, rank = dist.world_size, dist.rank
    if cfg.batch % world:
        raise UsageError(
            f"{opt('batch')} {cfg.batch} does not split evenly over {world} processes; use a multiple of {world}."
        )
    per_rank = cfg.batch // world
    device = cfg.device
    n_train = len(data.train)
    sampler = torch.utils.data.DistributedSampler(  # only len() of the dataset is used
        range(n_train),
        num_replicas=world,
        rank=rank,
        shuffle=True,
        seed=cfg.seed,
        drop_last=False,  # type: ignore[arg-type]
    )
    steps = max(1, len(_index_batches(list(range(len(sampler))), per_rank, True)))
    total = cfg.epochs * steps
    warmup = min(total, round(cfg.warmup_epochs * steps))

    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.sync_bn and dist.active:
        model = convert_sync_bn(model, device)
    optimizer = torch.optim.SGD(_param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum)
    start_epoch, prior_seconds, prior_images = 0, 0.0, 0
    final_loss: float | None = None
    curve: list[float] = []
    if checkpoint is not None:
        ck = load_checkpoint(checkpoint, checkpoint_key)
        if ck is not None:
            model.load_state_dict(ck["model"])  # type: ignore[arg-type]
            optimizer.load_state_dict(ck["optimizer"])  # type: ignore[arg-type]
            start_epoch = int(ck["epoch"])  # type: ignore[call-overload]
            prior_seconds = float(ck["train_seconds"])  # type: ignore[arg-type]
            prior_images = int(ck["images"])  # type: ignore[call-overload]
            final_loss = ck.get("final_loss")  # type: ignore[assignment]
            curve = [float(v) for v in ck.get("curve", [])]  # type: ignore[attr-defined]
    net: nn.Module = model
    if dist.active:
        ids = [torch.device(device).index] if device.startswith("cuda") else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" else None
    evaluated: nn.Module = model
    if cfg.compile:
        net = torch.compile(net)  # type: ignore[assignment]
        evaluated = net if not dist.active else torch.compile(model)  # type: ignore[assignment]
    evaluate_test = functools.partial(
        evaluate,
        evaluated,
        data.test,
        data.test_transform,
        data.num_classes,
        cfg.eval_batch or 2 * per_rank,
        device,
        dist,
        cfg.num_workers,
        channels_last=cfg.channels_last,
        amp=cfg.amp,
    )  # the learning curve's (on the first curve_samples images) and the final evaluation
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    pin = device.startswith("cuda")
    train_seconds, images = prior_seconds, prior_images
    epochs_done = start_epoch

    with _deterministic(device), warnings.catch_warnings():
        # DDP warns (per step) when a 1×1 conv's weight gradient comes back from oneDNN with channels-last strides;
        # the reducer copies it, which costs a little speed and changes no number.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        net.train()
        for epoch in range(start_epoch, cfg.epochs):
            es = _epoch_seed(cfg.seed, epoch)
            torch.manual_seed(es)  # dropout and anything else drawing from the global generators
            aug_gen = augmentation_generator(cfg.seed, epoch, rank)
            sampler.set_epoch(epoch)
            batches = _index_batches(list(sampler), per_rank, True)
            window = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count since last check
            epoch_sums = torch.zeros(3, dtype=torch.float64)
            window_start = 1
            t0 = time.perf_counter()
            for i, (xb, yb) in enumerate(data.train.batches(batches, cfg.num_workers, pin), start=1):
                lr = lr_at(epoch * steps + i - 1, total, warmup, cfg.lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x = data.train_transform(xb.to(device, non_blocking=True), aug_gen)
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                y = yb.to(device, non_blocking=True)
                with autocast(cfg.amp, device):
                    out = net(x)
                loss = criterion(out.float(), y)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    window[0] += loss.detach().double() * y.numel()
                    window[1] += (out.argmax(1) == y).sum()
                    window[2] += y.numel()
                if i % cfg.check_every == 0 or i == len(batches):
                    w = _all_sum(window.tolist(), dist, device)
                    if not math.isfinite(w[0]):
                        train_seconds += _all_max(time.perf_counter() - t0, dist, device)
                        bad = "nan" if math.isnan(w[0]) else "inf"
                        ips = images / train_seconds if train_seconds else 0.0
                        return AccuracyResult(
                            status="failed",
                            top1=None,
                            top5=None,
                            test_loss=None,
                            final_loss=w[0],
                            train_seconds=train_seconds,
                            throughput_ips=ips,
                            epochs_done=epochs_done,
                            curve_top1=tuple(curve),
                            error=f"training loss became {bad} in epoch {epoch + 1}, steps {window_start}-{i}; "
                            "lower the learning rate or check the data",
                        )
                    epoch_sums += torch.tensor(w, dtype=torch.float64)
                    window.zero_()
                    window_start = i + 1
                    if progress is not None:
                        loss_avg, acc = float(epoch_sums[0] / epoch_sums[2]), float(epoch_sums[1] / epoch_sums[2])
                        progress(TrainProgress(epoch + 1, cfg.epochs, i, len(batches), loss_avg, acc))
            if device.startswith("cuda"):
                torch.cuda.synchronize(device)
            train_seconds += _all_max(time.perf_counter() - t0, dist, device)
            images += int(epoch_sums[2])
            final_loss = float(epoch_sums[0] / max(1.0, float(epoch_sums[2])))
            epochs_done = epoch + 1
            if cfg.curve_samples > 0:
                # Rank 0's BatchNorm statistics everywhere for the curve too; the training state is left as it was.
                saved = [b.clone() for b in model.buffers()] if dist.active else []
                if dist.active:
                    for buf in model.buffers():
                        torch_dist.broadcast(buf, 0)
                curve.append(evaluate_test(limit=cfg.curve_samples).score)
                for buf, old in zip(model.buffers(), saved):
                    buf.copy_(old)
            if checkpoint is not None:
                if dist.is_main:
                    _save_checkpoint(
                        checkpoint,
                        {
                            "key": checkpoint_key,
                            "epoch": epoch + 1,
                            "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "train_seconds": train_seconds,
                            "images": images,
                            "final_loss": final_loss,
                            "curve": curve,
                        },
                    )
                if dist.active:
                    torch_dist.barrier()

        if dist.active:
            # Each rank updated its own BatchNorm statistics in the last step; evaluate with rank 0's everywhere.
            for buf in model.buffers():
                torch_dist.broadcast(buf, 0)
        predictions: list[torch.Tensor] = []
        final = evaluate_test(predictions=predictions)
    return AccuracyResult(
        status="ok",
        top1=final.top1,
        top5=final.top5,
        test_loss=final.loss,
        final_loss=final_loss,
        train_seconds=train_seconds,
        throughput_ips=images / train_seconds if train_seconds > 0 else 0.0,
        epochs_done=epochs_done,
        curve_top1=tuple(curve),
        predictions=predictions[0] if predictions else None,
        miou=final.miou,
    )
