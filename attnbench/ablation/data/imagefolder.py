"""Image folders: ``PATH/train`` and ``PATH/val``, or one folder split by a per-class fraction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ...errors import DataError, opt
from .refs import CACHE_LIMIT_BYTES, EVAL_CROP, IMAGE_EXTENSIONS, IMAGEFOLDER_LAYOUT
from .splits import LazyImageSplit, Split, TensorSplit, _decode


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
            raise DataError(
                f"class folder '{c}' holds no images ({', '.join(IMAGE_EXTENSIONS)}); expected {IMAGEFOLDER_LAYOUT}."
            )
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
        from ..imagecache import load_or_build

        folder, root, split = disk
        images, _ = load_or_build(folder, root, items, size, split, _decode, threads)
        return TensorSplit(images, torch.as_tensor(labels, dtype=torch.long))
    if not cache:
        return LazyImageSplit(files, labels, size)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        images = list(pool.map(lambda p: _decode(p, size), files))
    return TensorSplit(torch.stack(images), torch.as_tensor(labels, dtype=torch.long))


def load_imagefolder(
    root: Path,
    input_size: int,
    holdout_fraction: float = 0.2,
    cache: bool | None = None,
    threads: int = 4,
    cache_dir: Path | None = None,
) -> tuple[Split, Split, tuple[str, ...]]:
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
        raise DataError(f"{opt('data')} imagefolder:{root}: folder not found; expected {IMAGEFOLDER_LAYOUT}.")
    size = max(input_size, round(input_size / EVAL_CROP))
    train_dir = root / "train"
    val_dir = next((root / n for n in ("val", "validation", "test") if (root / n).is_dir()), None)
    if train_dir.is_dir() and val_dir is not None:
        tr = _list_classes(train_dir, "training folder")
        va = _list_classes(val_dir, "validation folder")
        extra = sorted(set(va) - set(tr))
        if extra:
            raise DataError(
                f"validation folder '{val_dir}' has classes missing from '{train_dir}': "
                f"{', '.join(extra[:5])}; both need the same class folders."
            )
        index = {name: i for i, name in enumerate(tr)}
        train_items = [(p, index[c]) for c, fs in tr.items() for p in fs]
        val_items = [(p, index[c]) for c, fs in va.items() for p in fs]
        names = tuple(tr)
    elif train_dir.is_dir():
        raise DataError(
            f"'{root}' has train/ but no val/ folder; add val/<class>/ or point {opt('data')} at the class folders."
        )
    else:
        classes = _list_classes(root, "folder")
        train_items, val_items = _split_by_fraction(classes, holdout_fraction, root)
        names = tuple(classes)
    if len(names) < 2:
        raise DataError(f"{opt('data')} imagefolder:{root} has {len(names)} class; classification needs at least 2.")
    if cache is None:
        cache = (len(train_items) + len(val_items)) * 3 * size * size <= CACHE_LIMIT_BYTES
    on_disk = cache_dir is not None
    return (
        _materialise(train_items, size, cache, threads, (cache_dir, root, "train") if on_disk else None),
        _materialise(val_items, size, cache, threads, (cache_dir, root, "test") if on_disk else None),
        names,
    )
