"""Data for ``attnbench ablate``: a synthetic positional task, CIFAR-10/100, image folders, and the per-pixel dense
task (``ablation/dense.py``, whose labels are ``N × S × S`` maps).

The package by job: ``refs`` (the ``--data`` values), ``splits`` (splits, the held-out share, batch transforms,
``ImageData``), ``synthetic`` (the generator), ``cifar``, ``imagefolder``; this file loads a task from its ``DataRef``.

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
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...errors import DataError, UsageError, opt
from .cifar import load_cifar
from .imagefolder import load_imagefolder
from .refs import (
    AUGMENTS,
    CIFAR_MEAN_STD,
    DATA_KINDS,
    IMAGENET_MEAN_STD,
    LABEL_MAPS,
    SYNTHETIC_KEYS,
    DataRef,
    expand_data,
    parse_data,
)
from .splits import BatchTransform, ImageData, LazyImageSplit, Split, TensorSplit, split_off
from .synthetic import SHAPES, SyntheticOptions, make_synthetic, num_label_classes, render_synthetic, synthetic_labels

__all__ = [
    "AUGMENTS",
    "DATA_KINDS",
    "LABEL_MAPS",
    "SHAPES",
    "SYNTHETIC_KEYS",
    "BatchTransform",
    "DataError",
    "DataRef",
    "ImageData",
    "LazyImageSplit",
    "Split",
    "SyntheticOptions",
    "TaskInfo",
    "TensorSplit",
    "check_augment",
    "default_augment",
    "describe_data",
    "expand_data",
    "load_cifar",
    "load_data",
    "load_imagefolder",
    "make_synthetic",
    "num_label_classes",
    "parse_data",
    "render_synthetic",
    "split_off",
    "synthetic_labels",
    "synthetic_options_for",
]


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


def describe_data(
    ref: DataRef, input_size: int, synthetic: SyntheticOptions | None, val_fraction: float
) -> TaskInfo | None:
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


def _mean_std(images: torch.Tensor) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    x = images[:2048].float() / 255
    mean = x.mean((0, 2, 3))
    std = x.std((0, 2, 3)).clamp(min=1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)  # type: ignore[return-value]


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
        raise UsageError(f"{opt('augment')} '{augment}' is unknown; choose from: {', '.join(AUGMENTS)}.")
    if ref.dense and augment != "none":
        raise UsageError(
            f"{opt('augment')} {augment} would move the pixels but not the label map of {opt('data')} {ref}; "
            f"use {opt('augment')} none."
        )
    if ref.synthetic and augment != "none" and (augment != "flip" or ref.labels in ("shape-col", "shape-row-col")):
        raise UsageError(
            f"{opt('augment')} {augment} changes where the shape is, i.e. the label of {opt('data')} {ref}; "
            f"use {opt('augment')} none (or flip for the shape and shape-row labels)."
        )


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
    from ..dense import dense_options_for

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
    data = _load(
        ref, input_size, synthetic, holdout_fraction, cache, threads, augment or default_augment(ref), cache_dir
    )
    if val_fraction <= 0:
        return data
    train, val = split_off(data.train, val_fraction)
    return dataclasses.replace(data, train=train, test=val, eval_split="val")


def _load(
    ref: DataRef,
    input_size: int,
    synthetic: SyntheticOptions | None,
    holdout_fraction: float,
    cache: bool | None,
    threads: int | None,
    augment: str,
    cache_dir: Path | None,
) -> ImageData:
    check_augment(ref, augment)
    if ref.dense:
        from ..dense import label_entropy, make_dense

        dense = _dense_options(ref, input_size, synthetic or SyntheticOptions())
        train, test = make_dense(dense)
        mean, std = _mean_std(train.images)
        plain = BatchTransform("none", input_size, mean, std)
        return ImageData(
            str(ref),
            dense.num_classes,
            train,
            test,
            plain,
            plain,
            chance_loss=label_entropy(train.labels, dense.num_classes),
        )
    if ref.synthetic:
        opts = synthetic_options_for(ref, input_size, synthetic)
        train, test = make_synthetic(opts, ref.labels)
        mean, std = _mean_std(train.images)
        plain = BatchTransform("none", input_size, mean, std)
        return ImageData(
            str(ref),
            num_label_classes(opts, ref.labels),
            train,
            test,
            _transform(ref.kind, augment, input_size, mean, std),
            plain,
        )
    assert ref.path is not None
    if ref.kind in CIFAR_MEAN_STD:
        train, test, classes = load_cifar(ref.kind, ref.path)
        mean, std = CIFAR_MEAN_STD[ref.kind]
        return ImageData(
            str(ref),
            classes,
            train,
            test,
            _transform(ref.kind, augment, input_size, mean, std),
            BatchTransform("none", input_size, mean, std),
        )
    tr, va, names = load_imagefolder(
        ref.path, input_size, holdout_fraction, cache, threads or os.cpu_count() or 1, cache_dir
    )
    mean, std = IMAGENET_MEAN_STD
    return ImageData(
        str(ref),
        len(names),
        tr,
        va,
        _transform(ref.kind, augment, input_size, mean, std),
        BatchTransform("center_crop", input_size, mean, std),
        class_names=names,
    )
