"""Splits held in memory or decoded per batch, the held-out share of a split, the batch transforms, and
``ImageData`` (what every source loads into)."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import DataError


@dataclass(frozen=True)
class TensorSplit:
    """A split held in memory: ``images`` ``uint8`` ``N × 3 × S × S`` and ``labels`` ``int64`` ``N``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batches(
        self, index_batches: Sequence[Sequence[int]], num_workers: int = 0, pin_memory: bool = False
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(images, labels)`` for each list of indices, in order."""
        del num_workers, pin_memory  # already decoded: indexing is faster than any worker
        for idx in index_batches:
            i = torch.as_tensor(idx, dtype=torch.long)
            yield self.images[i], self.labels[i]


class _EpochBatches:
    """A batch sampler whose batches are replaced every epoch, so one ``DataLoader`` (and its workers) serves all."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class LazyImageSplit(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """An image-folder split decoded on demand (one file per item), for sets too large to hold in memory.

    Its ``DataLoader`` is made once per worker count and keeps its worker processes between epochs
    (``persistent_workers``): starting them again every epoch costs seconds per epoch on large sets. The loader's
    dataset is a copy of the split without its loaders, so no reference cycle holds the workers: they stop as soon as
    the split is dropped. (Left to a garbage collection, the cycle's loader found its queues already closed and
    waited 5 s for each worker.)
    """

    def __init__(self, files: Sequence[Path], labels: Sequence[int], size: int) -> None:
        self.files = list(files)
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        self.size = size
        self._loaders: dict[tuple[int, bool], tuple[Any, _EpochBatches]] = {}

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _decode(self.files[i], self.size), self.labels[i]

    def batches(
        self, index_batches: Sequence[Sequence[int]], num_workers: int = 0, pin_memory: bool = False
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        key = (num_workers, pin_memory)
        if key not in self._loaders:
            items = copy.copy(self)
            items._loaders = {}
            sampler = _EpochBatches()
            loader = torch.utils.data.DataLoader(
                items,
                batch_sampler=sampler,
                num_workers=num_workers,
                pin_memory=pin_memory,
                persistent_workers=num_workers > 0,
            )
            self._loaders[key] = (loader, sampler)
        loader, sampler = self._loaders[key]
        sampler.batches = [list(b) for b in index_batches]
        yield from loader

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_loaders": {}}  # workers get the data, not the loaders


Split = TensorSplit | LazyImageSplit


def _subset(split: Split, index: list[int]) -> Split:
    if isinstance(split, TensorSplit):
        i = torch.as_tensor(index, dtype=torch.long)
        return TensorSplit(split.images[i], split.labels[i])
    return LazyImageSplit([split.files[i] for i in index], split.labels[index].tolist(), split.size)


def split_off(split: Split, fraction: float) -> tuple[Split, Split]:
    """``(rest, held_out)``: ``fraction`` of every class of ``split`` held out (at least one image of a class with
    two or more, never all of them), in the split's order.

    The choice depends on the labels alone (each class shuffled by a generator seeded with its label), so every
    run, module and seed of a sweep holds out the same images.
    """
    labels = split.labels.tolist()
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    held: list[int] = []
    for label, members in by_class.items():
        if len(members) < 2:
            continue
        order = torch.randperm(len(members), generator=torch.Generator().manual_seed(label)).tolist()
        n = min(len(members) - 1, max(1, round(len(members) * fraction)))
        held += [members[j] for j in order[:n]]
    chosen = set(held)
    rest = [i for i in range(len(labels)) if i not in chosen]
    return _subset(split, rest), _subset(split, sorted(held))


@dataclass(frozen=True)
class BatchTransform:
    """Turn a ``uint8`` batch into a normalised ``float32`` batch of ``out_size`` px, augmenting if asked.

    Args:
        kind: ``none`` (resize only if the size differs), ``flip`` (random horizontal flip of the centre crop),
            ``crop_flip`` (pad, random crop, random horizontal flip), ``rrc_flip`` (random-resized-crop + flip) or
            ``center_crop``.
        out_size: output height and width.
        mean: per-channel mean in [0, 1] units.
        std: per-channel standard deviation in [0, 1] units.
        pad: zero padding in pixels for ``crop_flip``.
    """

    kind: str
    out_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pad: int = 4
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform ``x`` (``uint8`` ``B × 3 × S × S``); random draws come from ``generator`` (CPU)."""
        if self.kind == "crop_flip":
            x = _crop_flip(x, self.pad, generator)
        elif self.kind == "flip":
            x = _center_crop(_crop_flip(x, 0, generator), min(self.out_size, x.shape[-1], x.shape[-2]))
        elif self.kind == "center_crop":
            x = _center_crop(x, min(self.out_size, x.shape[-1], x.shape[-2]))
        y = x.float()
        if self.kind == "rrc_flip":
            y = _random_resized_crop_flip(y, self.out_size, self.scale, self.ratio, generator)
        elif y.shape[-1] != self.out_size or y.shape[-2] != self.out_size:
            y = F.interpolate(
                y,
                size=(self.out_size, self.out_size),
                mode="bilinear",
                align_corners=False,
                antialias=y.shape[-1] > self.out_size,
            )
        mean = torch.tensor(self.mean, device=y.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(self.std, device=y.device).view(1, 3, 1, 1) * 255
        return (y - mean) / std


def _crop_flip(x: torch.Tensor, pad: int, g: torch.Generator | None) -> torch.Tensor:
    b, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    flip = torch.rand(b, generator=g) < 0.5
    cols = torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(0), cols)[:, None, :] + ox[:, None, None]
    rows = torch.arange(h)[None, :, None] + oy[:, None, None]
    bi = torch.arange(b)[:, None, None]
    dev = x.device
    # Advanced indexing puts the indexed dims first: result is B × H × W × C.
    out = xp.permute(0, 2, 3, 1)[bi.to(dev), rows.to(dev), cols.to(dev)]
    return out.permute(0, 3, 1, 2).contiguous()


def _center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size]


def _random_resized_crop_flip(
    x: torch.Tensor, size: int, scale: tuple[float, float], ratio: tuple[float, float], g: torch.Generator | None
) -> torch.Tensor:
    """Per-sample random-resized-crop and flip as one batched ``grid_sample`` (bilinear).

    Area fraction ``s`` ~ U(scale) and log aspect ``r`` ~ U(log ratio) give a box of ``sqrt(s·r)`` × ``sqrt(s/r)``
    of the side; boxes that do not fit are shrunk to fit (torchvision retries, then falls back to a centre crop).
    """
    b = x.shape[0]
    s = torch.empty(b).uniform_(*scale, generator=g)
    logr = torch.empty(b).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=g)
    r = logr.exp()
    bw = (s * r).sqrt().clamp(max=1.0)
    bh = (s / r).sqrt().clamp(max=1.0)
    cx = (torch.rand(b, generator=g) * 2 - 1) * (1 - bw)
    cy = (torch.rand(b, generator=g) * 2 - 1) * (1 - bh)
    flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = bw * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = bh
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta.to(x.device), [b, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@dataclass(frozen=True)
class ImageData:
    """A loaded classification task: both splits, their transforms, and what they are.

    ``test`` is the split every accuracy is measured on: the task's test split, or with a validation share
    (``load_data(val_fraction=...)``) the part of the training split held out, as ``eval_split`` says.
    """

    name: str
    num_classes: int
    train: Split
    test: Split
    train_transform: BatchTransform
    test_transform: BatchTransform
    class_names: tuple[str, ...] = field(default=(), repr=False)
    eval_split: str = "test"
    chance_loss: float | None = None
    """The training loss of the best constant guess (the convergence check's reference); ``None``: ``ln(classes)``,
    as for balanced classes. The dense task gives its label entropy (most pixels are background)."""


def _decode(path: Path, size: int) -> torch.Tensor:
    """Decode ``path`` with Pillow, resize the short side to ``size`` and centre-crop a square: ``uint8`` 3×S×S."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when much larger than needed
            im = im.convert("RGB")
            w, h = im.size
            k = size / min(w, h)
            nw, nh = max(size, round(w * k)), max(size, round(h * k))
            im = im.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=3.0)
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
            buf = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"image '{path}' cannot be decoded ({exc}); remove or replace it.") from None
    return buf.view(size, size, 3).permute(2, 0, 1).contiguous()
