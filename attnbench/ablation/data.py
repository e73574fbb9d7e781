"""Image classification data for ``attnbench ablate``: a synthetic positional task, CIFAR-10/100 and image folders.

Every source ends as two splits of ``uint8`` images (``N × 3 × S × S``) with ``int64`` labels, plus a
:class:`BatchTransform` per split that turns a batch of them into normalised ``float32`` model inputs. The
transforms work on whole batches with plain torch ops (there is no torchvision here), on whatever device the batch
is on, drawing their random numbers from a CPU generator, so a seed gives the same augmentation on every device.

Sources (the ``--data`` value):

- ``synthetic``: a seeded, procedurally generated task where the label is *which shape* × *which grid cell* it sits
  in (4 shapes × 2×2 cells = 16 classes by default), on textured clutter (oriented stripes, pixel noise, thin line
  distractors). A model that pools features globally must carry *where* information through its features to solve
  it; this is the property Coordinate Attention claims to add.
- ``synthetic-shape``: the control. Exactly the same images (same seed → same pixels), labelled by shape only, so
  position is irrelevant.
- ``synthetic:KEY=VALUE,...``: the task family, one generator with several label maps over the same pixels:
  ``labels=shape`` (the control), ``shape-row`` (shape × the cell's row), ``shape-col`` (shape × its column),
  ``shape-row-col`` (shape × cell), or ``all`` for the four. Other keys: ``grid`` (cells per side, 4 by default in
  this form), ``size`` (pixels; sets ``--input``), ``shapes`` (how many of ``SHAPES``, 4), ``distractors`` (3) and
  ``seed`` (the data seed, 0). Row labels can be read from a pooling along the width (CA's X direction keeps the
  rows), column labels from one along the height; shape × row × column needs both.
- ``cifar10:PATH`` / ``cifar100:PATH``: the python-pickle batches (``data_batch_1..5`` + ``test_batch``, or
  ``train`` + ``test``) from local disk, never downloaded. They are read with an unpickler that only accepts numpy
  arrays, so a tampered file cannot run code.
- ``imagefolder:PATH``: ``PATH/train/<class>/*`` and ``PATH/val/<class>/*``, or ``PATH/<class>/*`` split by a
  fixed, per-class stratified fraction. Decoded with Pillow, resized once to ``round(input / 0.875)`` px on the
  short side and centre-cropped to a square. Small sets are kept in memory; larger ones are decoded per batch in
  ``DataLoader`` workers.

Augmentation (``--augment``, recorded in every row), by default: none for the synthetic tasks (a flip would move
the shape to another cell, i.e. change the label; ``flip`` is accepted for the shape and shape-row labels only);
``crop`` for CIFAR (random crop with 4 px zero padding + horizontal flip); ``imagenet`` for image folders
(random-resized-crop, scale 0.08-1, ratio 3/4-4/3, bilinear, + horizontal flip). ``none`` and ``flip`` turn it off
or down to a flip for any data; evaluation is always the plain (image folders: centre-cropped) image. One deviation:
the random-resized-crop samples from the stored centre square, not from the full original image.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import pickle
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..errors import DataError, UsageError

__all__ = [
    "DATA_KINDS",
    "SHAPES",
    "BatchTransform",
    "DataError",
    "DataRef",
    "ImageData",
    "LABEL_MAPS",
    "LazyImageSplit",
    "SyntheticOptions",
    "TensorSplit",
    "load_cifar",
    "load_data",
    "load_imagefolder",
    "make_synthetic",
    "expand_data",
    "parse_data",
    "render_synthetic",
    "synthetic_labels",
]

DATA_KINDS = ("synthetic", "synthetic-shape", "cifar10", "cifar100", "imagefolder", "dense")
"""Accepted ``--data`` kinds; ``cifar10``, ``cifar100`` and ``imagefolder`` take ``:PATH``, ``synthetic`` and
``dense`` (the per-pixel task of ``dense.py``) take ``:KEY=VALUE,...`` options."""

LABEL_MAPS = ("shape", "shape-row", "shape-col", "shape-row-col")
"""The synthetic task family's label maps, control first."""

SYNTHETIC_KEYS = ("labels", "grid", "size", "shapes", "distractors", "seed")
"""Keys of ``--data synthetic:KEY=VALUE,...``, in the order the canonical form writes them."""

FAMILY_GRID = 4
"""Cells per side of the family form (``synthetic:labels=...``) when ``grid`` is not given."""

AUGMENTS = ("none", "flip", "crop", "imagenet")
"""``--augment`` choices: none; horizontal flip; CIFAR's 4 px pad-crop + flip; ImageNet's random-resized-crop + flip."""

SHAPES = ("square", "disc", "cross", "triangle", "ring", "diamond")
"""Shapes the synthetic generator can draw, in label order."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")

CIFAR_MEAN_STD = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

EVAL_CROP = 0.875
"""Evaluation centre-crop fraction: images are resized to ``input / 0.875`` and cropped to ``input``."""

CACHE_LIMIT_BYTES = 4 * 1024**3
"""Image folders whose decoded size stays under this are held in memory; larger ones are decoded per batch."""


CIFAR_LAYOUT = {
    "cifar10": "data_batch_1 … data_batch_5 and test_batch (the 'CIFAR-10 python version' archive, extracted)",
    "cifar100": "train and test (the 'CIFAR-100 python version' archive, extracted)",
}
IMAGEFOLDER_LAYOUT = "PATH/train/<class>/*.jpg and PATH/val/<class>/*.jpg, or PATH/<class>/*.jpg"


@dataclass(frozen=True)
class DataRef:
    """A parsed ``--data`` value: its kind, for files on disk the path, for the synthetic family its options."""

    kind: str
    path: Path | None = None
    options: tuple[tuple[str, str], ...] = ()
    """``synthetic:KEY=VALUE,...`` options, canonical order (``SYNTHETIC_KEYS``)."""

    def __str__(self) -> str:
        if self.options:
            return f"{self.kind}:" + ",".join(f"{k}={v}" for k, v in self.options)
        return self.kind if self.path is None else f"{self.kind}:{self.path}"

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    @property
    def synthetic(self) -> bool:
        """One of the synthetic classification tasks."""
        return self.kind.startswith("synthetic")

    @property
    def dense(self) -> bool:
        """The synthetic per-pixel task (``dense.py``): label maps, scored by mean IoU."""
        return self.kind == "dense"

    @property
    def labels(self) -> str:
        """The synthetic label map (``LABEL_MAPS``); ``""`` for data on disk."""
        if not self.synthetic:
            return ""
        if self.kind == "synthetic-shape":
            return "shape"
        return self.option("labels", "shape-row-col") or "shape-row-col"

    @property
    def grid(self) -> int | None:
        """Cells per side given or implied by the form (``None``: the legacy forms, whose grid is the options')."""
        if not self.options:
            return None
        return int(self.option("grid", str(FAMILY_GRID)) or FAMILY_GRID)

    @property
    def size(self) -> int | None:
        value = self.option("size")
        return int(value) if value is not None else None


def _synthetic_options(text: str, body: str) -> tuple[tuple[str, str], ...]:
    given: dict[str, str] = {}
    for part in (p.strip() for p in body.split(",")):
        if not part:
            continue
        key, eq, value = (x.strip() for x in part.partition("="))
        key = key.lower()
        if not eq or key not in SYNTHETIC_KEYS:
            raise UsageError(f"--data '{text}': '{part}' is not KEY=VALUE with KEY one of {', '.join(SYNTHETIC_KEYS)}; "
                             "e.g. --data synthetic:labels=shape-row-col,grid=4,size=96.")  # fmt: skip
        if key in given:
            raise UsageError(f"--data '{text}' gives {key} twice; give it once.")
        if key == "labels":
            if value not in (*LABEL_MAPS, "all"):
                raise UsageError(f"--data '{text}': labels '{value}' is unknown; use {', '.join(LABEL_MAPS)} or all.")
        else:
            try:
                number = int(value)
            except ValueError:
                raise UsageError(f"--data '{text}': {key} must be a whole number, got '{value}'.") from None
            low = {"grid": 1, "size": 6, "shapes": 1, "distractors": 0, "seed": 0}[key]
            top = {"grid": 8, "size": 1024, "shapes": len(SHAPES), "distractors": 64, "seed": 2**31 - 1}[key]
            if not low <= number <= top:
                raise UsageError(f"--data '{text}': {key} must be between {low} and {top}, got {number}.")
            value = str(number)
        given[key] = value
    if not given:
        raise UsageError(
            f"--data '{text}' has no options; use --data synthetic, or e.g. synthetic:labels=shape,grid=4."
        )
    given.setdefault("labels", "shape-row-col")
    return tuple((k, given[k]) for k in SYNTHETIC_KEYS if k in given)


def parse_data(text: str) -> DataRef:
    """``"synthetic"``, ``"cifar10:/data/x"``… → :class:`DataRef`; raise ``UsageError`` naming the accepted forms."""
    kind, sep, path = text.strip().partition(":")
    kind = kind.strip().lower()
    forms = ("synthetic, synthetic-shape, synthetic:labels=...,grid=..., dense:cue=row, cifar10:PATH, cifar100:PATH "
             "or imagefolder:PATH")  # fmt: skip
    if kind not in DATA_KINDS:
        raise UsageError(f"--data '{text}' is not a known data source; use {forms}.")
    if kind == "dense":
        from .dense import dense_options

        return DataRef("dense", options=dense_options(f"dense:{path}"))
    if kind.startswith("synthetic"):
        if not sep:
            return DataRef(kind)
        if kind != "synthetic" or "=" not in path:
            raise UsageError(f"--data '{text}': the synthetic tasks take no path; use --data {kind}, or options "
                             "such as --data synthetic:labels=shape-row-col,grid=4.")  # fmt: skip
        return DataRef("synthetic", options=_synthetic_options(text, path))
    if not path.strip():
        raise UsageError(f"--data '{text}' needs a folder: --data {kind}:PATH.")
    return DataRef(kind, Path(path.strip()).expanduser())


def expand_data(text: str) -> list[DataRef]:
    """The tasks one ``--data`` value names: ``labels=all`` gives the four label maps (control first)."""
    ref = parse_data(text)
    if ref.option("labels") != "all":
        return [ref]
    return [DataRef(ref.kind, options=tuple((k, lab if k == "labels" else v) for k, v in ref.options))
            for lab in LABEL_MAPS]  # fmt: skip


# --------------------------------------------------------------------------------------------------------------------
# Splits and batch transforms


@dataclass(frozen=True)
class TensorSplit:
    """A split held in memory: ``images`` ``uint8`` ``N × 3 × S × S`` and ``labels`` ``int64`` ``N``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batches(self, index_batches: Sequence[Sequence[int]], num_workers: int = 0, pin_memory: bool = False
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
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
    (``persistent_workers``): starting them again every epoch costs seconds per epoch on large sets.
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

    def batches(self, index_batches: Sequence[Sequence[int]], num_workers: int = 0, pin_memory: bool = False
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
        key = (num_workers, pin_memory)
        if key not in self._loaders:
            sampler = _EpochBatches()
            loader = torch.utils.data.DataLoader(
                self, batch_sampler=sampler, num_workers=num_workers, pin_memory=pin_memory,
                persistent_workers=num_workers > 0,
            )  # fmt: skip
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
            y = F.interpolate(y, size=(self.out_size, self.out_size), mode="bilinear", align_corners=False,
                              antialias=y.shape[-1] > self.out_size)  # fmt: skip
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

    @property
    def dense(self) -> bool:
        """Per-pixel labels (``N × H × W``), scored by mean IoU."""
        return self.train.labels.ndim > 1 if isinstance(self.train, TensorSplit) else False


# --------------------------------------------------------------------------------------------------------------------
# Synthetic positional task


@dataclass(frozen=True)
class SyntheticOptions:
    """The synthetic task's parameters.

    Args:
        size: image height and width in pixels.
        grid: cells per side; the positional task has ``len(shapes) · grid²`` classes.
        shapes: shape names from ``SHAPES``, in label order.
        train_samples: training images.
        test_samples: test images.
        distractors: thin line segments drawn over the background of every image.
        seed: the data seed. The train and test splits come from two streams of this one seed, so they are fixed
            by it and never overlap in generation; the training seed of a run does not change the data.
    """

    size: int = 32
    grid: int = 2
    shapes: tuple[str, ...] = ("square", "disc", "cross", "triangle")
    train_samples: int = 4000
    test_samples: int = 1000
    distractors: int = 3
    seed: int = 0

    def num_classes(self, positional: bool) -> int:
        return len(self.shapes) * self.grid**2 if positional else len(self.shapes)

    def validate(self) -> SyntheticOptions:
        unknown = [s for s in self.shapes if s not in SHAPES]
        if unknown or not self.shapes or len(set(self.shapes)) != len(self.shapes):
            raise UsageError(f"synthetic shapes {self.shapes} must be distinct names from: {', '.join(SHAPES)}.")
        if not 1 <= self.grid <= 8:
            raise UsageError(f"synthetic grid must be between 1 and 8 cells per side, got {self.grid}.")
        if self.size < 6 * self.grid:
            raise UsageError(
                f"synthetic images of {self.size} px are too small for a {self.grid}×{self.grid} grid; "
                f"use --input {6 * self.grid} or more."
            )
        for name, n in (("train", self.train_samples), ("test", self.test_samples)):
            if not 1 <= n <= 10_000_000:
                raise UsageError(f"synthetic {name} samples must be between 1 and 10,000,000, got {n}.")
        return self


def _shape_mask(kind: str, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Inside-test of a unit-radius shape at offsets ``dx, dy`` (in radii) from its centre."""
    ax, ay = dx.abs(), dy.abs()
    if kind == "square":
        return torch.maximum(ax, ay) <= 0.78
    if kind == "disc":
        return dx * dx + dy * dy <= 1.0
    if kind == "cross":
        return ((ax <= 0.3) & (ay <= 1.0)) | ((ay <= 0.3) & (ax <= 1.0))
    if kind == "triangle":
        return (dy <= 0.75) & (ax <= (dy + 1.0) * 0.58)
    if kind == "ring":
        d2 = dx * dx + dy * dy
        return (d2 <= 1.0) & (d2 >= 0.36)
    if kind == "diamond":
        return ax + ay <= 1.0
    raise ValueError(f"unknown shape '{kind}'")


def render_synthetic(
    shape_ids: torch.Tensor, cell_ids: torch.Tensor, opts: SyntheticOptions, generator: torch.Generator,
    return_masks: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Draw one image per ``(shape, cell)`` pair: ``uint8`` ``N × 3 × S × S``.

    The shape (radius 0.28-0.42 of a cell, a bright random colour) lies entirely inside its cell at a random
    offset. The background is a dim random colour with random oriented stripes, per-pixel noise and
    ``opts.distractors`` thin bright line segments that may cross cells. With ``return_masks`` it also returns the
    shapes' boolean masks (``N × S × S``).
    """
    n, s, grid = int(shape_ids.shape[0]), opts.size, opts.grid
    g = generator
    cell = s / grid
    coords = torch.arange(s, dtype=torch.float32) + 0.5
    yy, xx = coords.view(1, s, 1), coords.view(1, 1, s)

    # Background: a dim base colour, stripes at a random angle, frequency and phase.
    base = torch.rand(n, 3, 1, 1, generator=g) * 0.3
    theta = torch.rand(n, 1, 1, generator=g) * math.pi
    freq = (2 + torch.rand(n, 1, 1, generator=g) * 5) * (2 * math.pi / s)
    phase = torch.rand(n, 1, 1, generator=g) * 2 * math.pi
    stripes = torch.sin(xx * (freq * theta.cos()) + yy * (freq * theta.sin()) + phase).add_(1).mul_(0.5)
    stripe_colour = torch.rand(n, 3, 1, 1, generator=g) * 0.2
    img = torch.addcmul(base, stripe_colour, stripes.unsqueeze(1))  # N × 3 × S × S

    # Overlay index per pixel: 0 background, 1..D distractor lines, D+1 the target shape (drawn last, on top).
    overlay = torch.zeros(n, s * s, dtype=torch.long)
    steps = max(2, math.ceil(0.8 * cell) * 2)
    t = torch.linspace(0, 1, steps).view(1, steps)
    for k in range(opts.distractors):
        # Thin line segments, rasterised by sampling points along them (cheap: O(N · length), not O(N · S²)).
        p0 = torch.rand(n, 2, generator=g) * s
        ang = torch.rand(n, generator=g) * 2 * math.pi
        length = (0.3 + 0.5 * torch.rand(n, generator=g)) * cell
        px = (p0[:, :1] + t * (length * ang.cos())[:, None]).floor().long().clamp(0, s - 1)
        py = (p0[:, 1:] + t * (length * ang.sin())[:, None]).floor().long().clamp(0, s - 1)
        overlay.scatter_(1, py * s + px, k + 1)
    overlay = overlay.view(n, s, s)

    # The target shape, fully inside its cell; evaluated on a cell-sized patch around it, not the whole image.
    radius = (0.28 + 0.14 * torch.rand(n, generator=g)) * cell
    cy_cell = torch.div(cell_ids, grid, rounding_mode="floor").float()
    cx_cell = (cell_ids % grid).float()
    span = cell - 2 * radius - 1.0
    cy = cy_cell * cell + radius + 0.5 + torch.rand(n, generator=g) * span
    cx = cx_cell * cell + radius + 0.5 + torch.rand(n, generator=g) * span
    patch = min(s, math.ceil(0.84 * cell) + 3)
    top = (cy - patch / 2).round().long().clamp(0, s - patch)
    left = (cx - patch / 2).round().long().clamp(0, s - patch)
    local = torch.arange(patch)
    rows = top[:, None] + local  # N × P
    cols = left[:, None] + local
    dy = ((rows.float() + 0.5) - cy[:, None]) / radius[:, None]
    dx = ((cols.float() + 0.5) - cx[:, None]) / radius[:, None]
    dy, dx = dy[:, :, None].expand(n, patch, patch), dx[:, None, :].expand(n, patch, patch)
    inside = torch.zeros(n, patch, patch, dtype=torch.bool)
    for k, kind in enumerate(opts.shapes):
        sel = (shape_ids == k).nonzero().squeeze(1)
        if sel.numel():
            inside[sel] = _shape_mask(kind, dx[sel], dy[sel])
    flat = (rows[:, :, None] * s + cols[:, None, :]).view(n, -1)
    target = torch.zeros(n, s * s, dtype=torch.bool).scatter_(1, flat, inside.view(n, -1)).view(n, s, s)
    overlay[target] = opts.distractors + 1

    palette = torch.cat(
        (
            torch.zeros(n, 1, 3),
            0.35 + 0.4 * torch.rand(n, opts.distractors, 3, generator=g),
            0.6 + 0.4 * torch.rand(n, 1, 3, generator=g),
        ),
        1,
    )  # N × (D + 2) × 3
    coloured = torch.gather(palette, 1, overlay.view(n, -1, 1).expand(-1, -1, 3)).view(n, s, s, 3).permute(0, 3, 1, 2)
    img = torch.where((overlay > 0).unsqueeze(1), coloured, img)
    masks = target

    img.add_(torch.randn(n, 3, s, s, generator=g), alpha=0.06)
    out = img.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
    return (out, masks) if return_masks else out


def synthetic_labels(
    shape_ids: torch.Tensor, cell_ids: torch.Tensor, grid: int, positional: bool | str
) -> torch.Tensor:
    """Label of each image under a label map (``LABEL_MAPS``; ``True`` is ``shape-row-col``, ``False`` ``shape``).

    ``shape-row-col``: ``shape · grid² + cell``; ``shape-row``: ``shape · grid + row``; ``shape-col``:
    ``shape · grid + col``; ``shape``: the shape. ``cell = row · grid + col``.
    """
    labels = positional if isinstance(positional, str) else ("shape-row-col" if positional else "shape")
    row, col = torch.div(cell_ids, grid, rounding_mode="floor"), cell_ids % grid
    if labels == "shape-row-col":
        return shape_ids * grid * grid + cell_ids
    if labels == "shape-row":
        return shape_ids * grid + row
    if labels == "shape-col":
        return shape_ids * grid + col
    if labels == "shape":
        return shape_ids.clone()
    raise ValueError(f"unknown label map '{labels}'")


@dataclass(frozen=True)
class TaskInfo:
    """What a run's row says of its task: its name, classes, split sizes and the split it is evaluated on."""

    name: str
    num_classes: int
    train_samples: int
    test_samples: int
    eval_split: str = "test"

    @staticmethod
    def of(data: ImageData) -> TaskInfo:
        return TaskInfo(data.name, data.num_classes, len(data.train), len(data.test), data.eval_split)


def describe_data(ref: DataRef, input_size: int, synthetic: SyntheticOptions | None, val_fraction: float
                  ) -> TaskInfo | None:  # fmt: skip
    """A synthetic task's ``TaskInfo`` without rendering it (``None`` for tasks that must be read to be known, and
    for a validation share, whose per-class rounding depends on the labels)."""
    if ref.dense and val_fraction <= 0:
        base = synthetic or SyntheticOptions()
        opts = _dense_options(ref, input_size, base)
        return TaskInfo(str(ref), opts.num_classes, opts.train_samples, opts.test_samples)
    if not ref.synthetic or val_fraction > 0:
        return None
    opts = synthetic_options_for(ref, input_size, synthetic)
    return TaskInfo(str(ref), num_label_classes(opts, ref.labels), opts.train_samples, opts.test_samples)


def num_label_classes(opts: SyntheticOptions, labels: str) -> int:
    per = {"shape": 1, "shape-row": opts.grid, "shape-col": opts.grid, "shape-row-col": opts.grid**2}[labels]
    return len(opts.shapes) * per


RENDER_CHUNK = 4096
"""Images rendered per vectorised call (bounds the float32 working set: 4096 × 3 × 96² × 4 B ≈ 450 MB)."""


@functools.lru_cache(maxsize=4)
def _synthetic_pixels(opts: SyntheticOptions) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], ...]:
    """``(images, shape_ids, cell_ids)`` of the train and test streams; cached, so every label map of one
    generator (and every run of a sweep) shares one copy of the pixels."""
    out = []
    for stream, n in ((0, opts.train_samples), (1, opts.test_samples)):
        g = torch.Generator().manual_seed(opts.seed * 1_000_003 + 7919 * stream + 17)
        shape_ids = torch.randint(0, len(opts.shapes), (n,), generator=g)
        cell_ids = torch.randint(0, opts.grid**2, (n,), generator=g)
        images = torch.empty(n, 3, opts.size, opts.size, dtype=torch.uint8)
        for lo in range(0, n, RENDER_CHUNK):
            hi = min(n, lo + RENDER_CHUNK)
            part = render_synthetic(shape_ids[lo:hi], cell_ids[lo:hi], opts, g)
            assert isinstance(part, torch.Tensor)
            images[lo:hi] = part
        out.append((images, shape_ids, cell_ids))
    return tuple(out)


def make_synthetic(opts: SyntheticOptions, positional: bool | str = True) -> tuple[TensorSplit, TensorSplit]:
    """The train and test splits of the synthetic task under a label map (``synthetic_labels``); every label map
    of the same ``opts`` has the same pixels."""
    opts.validate()
    splits = []
    for images, shape_ids, cell_ids in _synthetic_pixels(opts):
        splits.append(TensorSplit(images, synthetic_labels(shape_ids, cell_ids, opts.grid, positional)))
    return splits[0], splits[1]


def _mean_std(images: torch.Tensor) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    x = images[:2048].float() / 255
    mean = x.mean((0, 2, 3))
    std = x.std((0, 2, 3)).clamp(min=1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------------------------
# CIFAR python pickles


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickle only dicts, lists, strings, numbers and numpy arrays: a CIFAR batch, and nothing that runs code."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load '{module}.{name}' (only numpy arrays are allowed)")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"  # numpy ≥ 2 moved it; the CIFAR files predate the move
        return super().find_class(module, name)


def _read_cifar_file(path: Path, label_key: bytes, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not path.is_file():
        raise DataError(f"CIFAR file '{path}' is missing; expected {layout}.")
    try:
        with path.open("rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            IndexError, KeyError, OSError) as exc:  # fmt: skip
        raise DataError(
            f"CIFAR file '{path}' is corrupt or not a CIFAR python batch ({exc}); expected {layout}."
        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"CIFAR file '{path}' does not hold a batch dict; expected {layout}.")
    obj = {k.encode() if isinstance(k, str) else k: v for k, v in obj.items()}
    if b"data" not in obj or label_key not in obj:
        keys = ", ".join(sorted(k.decode(errors="replace") for k in obj if isinstance(k, bytes)))
        raise DataError(f"CIFAR file '{path}' lacks 'data' or '{label_key.decode()}' (has: {keys}); expected {layout}.")
    try:
        data = torch.as_tensor(obj[b"data"]).to(torch.uint8)
        labels = torch.as_tensor(list(obj[label_key]), dtype=torch.long)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"CIFAR file '{path}' has unreadable data or labels ({exc}); expected {layout}.") from None
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0] or data.shape[0] == 0:
        raise DataError(
            f"CIFAR file '{path}' holds {tuple(data.shape)} data for {labels.shape[0]} labels; a batch is "
            f"N × 3072 uint8 with N labels. Expected {layout}."
        )
    return data.view(-1, 3, 32, 32), labels


def load_cifar(kind: str, root: Path) -> tuple[TensorSplit, TensorSplit, int]:
    """Read CIFAR-10 or CIFAR-100 from the python-pickle files under ``root``: (train, test, classes)."""
    layout = f"{root}/ with {CIFAR_LAYOUT[kind]}"
    if not root.is_dir():
        raise DataError(f"--data {kind}:{root}: folder not found; expected {layout}.")
    if kind == "cifar10":
        names, key, classes = [f"data_batch_{i}" for i in range(1, 6)], b"labels", 10
        test_name = "test_batch"
    else:
        names, key, classes = ["train"], b"fine_labels", 100
        test_name = "test"
    parts = [_read_cifar_file(root / n, key, layout) for n in names]
    train = TensorSplit(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
    test = TensorSplit(*_read_cifar_file(root / test_name, key, layout))
    for split in (train, test):
        lo, hi = int(split.labels.min()), int(split.labels.max())
        if lo < 0 or hi >= classes:
            raise DataError(
                f"--data {kind}:{root}: labels span {lo}..{hi}, outside 0..{classes - 1}; expected {layout}."
            )
    return train, test, classes


# --------------------------------------------------------------------------------------------------------------------
# Image folders


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


def _list_classes(root: Path, what: str) -> dict[str, list[Path]]:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{what} '{root}' has no class folders; expected {IMAGEFOLDER_LAYOUT}.")
    out: dict[str, list[Path]] = {}
    for c in classes:
        files = sorted(
            p
            for p in c.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise DataError(f"class folder '{c}' holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                            f"expected {IMAGEFOLDER_LAYOUT}.")  # fmt: skip
        out[c.name] = files
    return out


def _split_by_fraction(
    classes: dict[str, list[Path]], holdout_fraction: float, root: Path
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    train: list[tuple[Path, int]] = []
    val: list[tuple[Path, int]] = []
    for label, (name, files) in enumerate(classes.items()):
        if len(files) < 2:
            raise DataError(f"class folder '{root / name}' has {len(files)} image; a train/val split needs at least 2.")
        g = torch.Generator().manual_seed(label)
        order = torch.randperm(len(files), generator=g).tolist()
        n_val = min(len(files) - 1, max(1, round(len(files) * holdout_fraction)))
        val += [(files[i], label) for i in sorted(order[:n_val])]
        train += [(files[i], label) for i in sorted(order[n_val:])]
    return train, val


def _materialise(
    items: list[tuple[Path, int]], size: int, cache: bool, threads: int, disk: tuple[Path, Path, str] | None = None
) -> Split:
    files, labels = [p for p, _ in items], [lab for _, lab in items]
    if disk is not None:
        from .imagecache import load_or_build

        folder, root, split = disk
        images, _ = load_or_build(folder, root, items, size, split, _decode, threads)
        return TensorSplit(images, torch.as_tensor(labels, dtype=torch.long))
    if not cache:
        return LazyImageSplit(files, labels, size)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        images = list(pool.map(lambda p: _decode(p, size), files))
    return TensorSplit(torch.stack(images), torch.as_tensor(labels, dtype=torch.long))


def load_imagefolder(
    root: Path, input_size: int, holdout_fraction: float = 0.2, cache: bool | None = None, threads: int = 4,
    cache_dir: Path | None = None,
) -> tuple[Split, Split, tuple[str, ...]]:  # fmt: skip
    """Read an image-folder tree: (train, val, class names). Images are stored at ``round(input / 0.875)`` px.

    Args:
        root: a folder with ``train/`` and ``val/`` (or ``test/``) class folders, or class folders directly.
        input_size: the model's input size.
        holdout_fraction: share per class held out as the test split when ``root`` has no ``train/`` + ``val/``;
            the split is fixed (it does not depend on the training seed).
        cache: decode everything up front into memory (``None``: when it fits ``CACHE_LIMIT_BYTES``).
        threads: decoding threads for the in-memory path.
        cache_dir: decode each image once into a memory-mapped file in this folder (``imagecache``), reused by
            every later run; ``None``: decode in every run (into memory, or per batch past ``CACHE_LIMIT_BYTES``).
    """
    if not root.is_dir():
        raise DataError(f"--data imagefolder:{root}: folder not found; expected {IMAGEFOLDER_LAYOUT}.")
    size = max(input_size, round(input_size / EVAL_CROP))
    train_dir = root / "train"
    val_dir = next((root / n for n in ("val", "validation", "test") if (root / n).is_dir()), None)
    if train_dir.is_dir() and val_dir is not None:
        tr = _list_classes(train_dir, "training folder")
        va = _list_classes(val_dir, "validation folder")
        extra = sorted(set(va) - set(tr))
        if extra:
            raise DataError(f"validation folder '{val_dir}' has classes missing from '{train_dir}': "
                            f"{', '.join(extra[:5])}; both need the same class folders.")  # fmt: skip
        index = {name: i for i, name in enumerate(tr)}
        train_items = [(p, index[c]) for c, fs in tr.items() for p in fs]
        val_items = [(p, index[c]) for c, fs in va.items() for p in fs]
        names = tuple(tr)
    elif train_dir.is_dir():
        raise DataError(
            f"'{root}' has train/ but no val/ folder; add val/<class>/ or point --data at the class folders."
        )
    else:
        classes = _list_classes(root, "folder")
        train_items, val_items = _split_by_fraction(classes, holdout_fraction, root)
        names = tuple(classes)
    if len(names) < 2:
        raise DataError(f"--data imagefolder:{root} has {len(names)} class; classification needs at least 2.")
    if cache is None:
        cache = (len(train_items) + len(val_items)) * 3 * size * size <= CACHE_LIMIT_BYTES
    on_disk = cache_dir is not None
    return (
        _materialise(train_items, size, cache, threads, (cache_dir, root, "train") if on_disk else None),
        _materialise(val_items, size, cache, threads, (cache_dir, root, "test") if on_disk else None),
        names,
    )


# --------------------------------------------------------------------------------------------------------------------
# Entry point


def default_augment(ref: DataRef) -> str:
    """``--augment`` by data: none for the synthetic tasks, CIFAR's pad-crop + flip, ImageNet's for image folders."""
    if ref.synthetic or ref.dense:
        return "none"
    return "crop" if ref.kind in CIFAR_MEAN_STD else "imagenet"


def check_augment(ref: DataRef, augment: str) -> None:
    """Refuse an augmentation that changes the label of ``ref``'s task (``UsageError``)."""
    if augment not in AUGMENTS:
        raise UsageError(f"--augment '{augment}' is unknown; choose from: {', '.join(AUGMENTS)}.")
    if ref.dense and augment != "none":
        raise UsageError(f"--augment {augment} would move the pixels but not the label map of --data {ref}; "
                         "use --augment none.")  # fmt: skip
    if ref.synthetic and augment != "none" and (augment != "flip" or ref.labels in ("shape-col", "shape-row-col")):
        raise UsageError(f"--augment {augment} changes where the shape is, i.e. the label of --data {ref}; "
                         "use --augment none (or flip for the shape and shape-row labels).")  # fmt: skip


def synthetic_options_for(ref: DataRef, input_size: int, base: SyntheticOptions | None = None) -> SyntheticOptions:
    """The generator options of a synthetic ``ref`` at ``input_size`` px (the label map is not among them)."""
    opts = base or SyntheticOptions()
    fields: dict[str, Any] = {**opts.__dict__, "size": input_size}
    if ref.options:
        fields["grid"] = ref.grid
        n_shapes = int(ref.option("shapes", str(len(opts.shapes))) or len(opts.shapes))
        fields["shapes"] = SHAPES[:n_shapes] if n_shapes != len(opts.shapes) else opts.shapes
        fields["distractors"] = int(ref.option("distractors", str(opts.distractors)) or opts.distractors)
        fields["seed"] = int(ref.option("seed", str(opts.seed)) or opts.seed)
    return SyntheticOptions(**fields)


def _dense_options(ref: DataRef, input_size: int, base: SyntheticOptions) -> Any:
    from .dense import dense_options_for

    return dense_options_for(ref.options, input_size, base.train_samples, base.test_samples)


def _transform(kind: str, augment: str, size: int, mean: Any, std: Any) -> BatchTransform:
    if augment == "imagenet":
        return BatchTransform("rrc_flip", size, mean, std)
    if augment == "crop":
        return BatchTransform("crop_flip", size, mean, std, pad=4)
    if augment == "flip":
        return BatchTransform("flip", size, mean, std)
    return BatchTransform("center_crop" if kind == "imagefolder" else "none", size, mean, std)


def load_data(
    ref: DataRef,
    input_size: int,
    synthetic: SyntheticOptions | None = None,
    holdout_fraction: float = 0.2,
    cache: bool | None = None,
    threads: int | None = None,
    augment: str | None = None,
    val_fraction: float = 0.0,
    cache_dir: Path | None = None,
) -> ImageData:
    """Load the task ``ref`` names, with transforms producing ``input_size`` px batches.

    Args:
        ref: the parsed ``--data`` value.
        input_size: model input height and width.
        synthetic: options of the synthetic tasks (its ``size`` is replaced by ``input_size``; the family form's
            keys replace the others).
        holdout_fraction: share held out as the test split of image folders without ``train/``/``val/``.
        cache: image folders only: hold decoded images in memory (``None``: automatic).
        threads: image folders only: decoding threads for the in-memory path.
        augment: training augmentation (``AUGMENTS``); ``None`` uses ``default_augment(ref)``.
        val_fraction: share of every class of the training split held out as a validation split (``split_off``);
            the model trains on the rest and is evaluated on it instead of the test split (``eval_split`` ``val``),
            so the test split stays unseen while a recipe is tuned. 0: train on all of it, evaluate on the test split.
        cache_dir: image folders only: the folder of decoded-image caches (``imagecache``); ``None``: none.
    """
    data = _load(ref, input_size, synthetic, holdout_fraction, cache, threads, augment or default_augment(ref),
                 cache_dir)  # fmt: skip
    if val_fraction <= 0:
        return data
    train, val = split_off(data.train, val_fraction)
    return dataclasses.replace(data, train=train, test=val, eval_split="val")


def _load(
    ref: DataRef, input_size: int, synthetic: SyntheticOptions | None, holdout_fraction: float, cache: bool | None,
    threads: int | None, augment: str, cache_dir: Path | None,
) -> ImageData:  # fmt: skip
    check_augment(ref, augment)
    if ref.dense:
        from .dense import label_entropy, make_dense

        dense = _dense_options(ref, input_size, synthetic or SyntheticOptions())
        train, test = make_dense(dense)
        mean, std = _mean_std(train.images)
        plain = BatchTransform("none", input_size, mean, std)
        return ImageData(str(ref), dense.num_classes, train, test, plain, plain,
                         chance_loss=label_entropy(train.labels, dense.num_classes))  # fmt: skip
    if ref.synthetic:
        opts = synthetic_options_for(ref, input_size, synthetic)
        train, test = make_synthetic(opts, ref.labels)
        mean, std = _mean_std(train.images)
        plain = BatchTransform("none", input_size, mean, std)
        return ImageData(str(ref), num_label_classes(opts, ref.labels), train, test,
                         _transform(ref.kind, augment, input_size, mean, std), plain)  # fmt: skip
    assert ref.path is not None
    if ref.kind in CIFAR_MEAN_STD:
        train, test, classes = load_cifar(ref.kind, ref.path)
        mean, std = CIFAR_MEAN_STD[ref.kind]
        return ImageData(
            str(ref), classes, train, test,
            _transform(ref.kind, augment, input_size, mean, std), BatchTransform("none", input_size, mean, std),
        )  # fmt: skip
    tr, va, names = load_imagefolder(ref.path, input_size, holdout_fraction, cache, threads or os.cpu_count() or 1,
                                     cache_dir)  # fmt: skip
    mean, std = IMAGENET_MEAN_STD
    return ImageData(
        str(ref), len(names), tr, va,
        _transform(ref.kind, augment, input_size, mean, std), BatchTransform("center_crop", input_size, mean, std),
        class_names=names,
    )  # fmt: skip
