"""Image folders decoded once: a memory-mapped ``uint8`` file of pre-resized images, shared by every run and seed.

Decoding JPEGs every epoch makes an ImageNet subset decode-bound long before the model is the limit. The first run
that reads a folder decodes each image once (resized and centre-cropped to the stored size, as ``data._decode``
does) into one file of ``N × 3 × S × S`` bytes; every later run, process and seed maps that file and reads its
batches from the page cache.

The file's name is a digest of what it was made from: the stored size and, for every image in split order, its
path, size in bytes, modification time and label. So a folder that changes (an image added, removed, replaced or
relabelled) gets a new file, never a stale one, and the files made for the earlier content of the same folder and
size are removed. A file is written under a temporary name and renamed into place, so a run killed while decoding
leaves no partial cache, and two processes that build the same file at once both end with a whole one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ..errors import FileWriteError, opt

VERSION = "1"
"""Changes when the stored format or the decoding changes: older files are then never reused."""

CHUNK = 256
"""Images decoded (in parallel) and written per step."""


def cache_file(folder: Path, root: Path, items: Sequence[tuple[Path, int]], size: int, split: str) -> Path:
    """Where ``items`` (the ``split`` of the image folder ``root``, at ``size`` px) are cached inside ``folder``."""
    content = hashlib.sha256(f"{VERSION}:{size}".encode())
    for path, label in items:
        st = path.stat()
        content.update(f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}\0{label}".encode())
    where = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    return folder / f"images-{where}-{split}-{size}px-{content.hexdigest()[:16]}.u8"


def load_or_build(
    folder: Path,
    root: Path,
    items: Sequence[tuple[Path, int]],
    size: int,
    split: str,
    decode: Callable[[Path, int], torch.Tensor],
    threads: int,
) -> tuple[torch.Tensor, Path]:
    """The images of ``items`` as a read-only-mapped ``uint8`` tensor ``N × 3 × size × size``, and its file.

    Decodes and writes the file first when it does not exist (removing this folder's files for older contents).

    Raises:
        FileWriteError: the cache folder cannot be created or written.
    """
    path = cache_file(folder, root, items, size, split)
    n, per = len(items), 3 * size * size
    if not (path.is_file() and path.stat().st_size == n * per):
        _build(path, items, size, decode, threads)
    images = torch.from_file(str(path), shared=False, size=n * per, dtype=torch.uint8)
    return images.view(n, 3, size, size), path


def _build(
    path: Path, items: Sequence[tuple[Path, int]], size: int, decode: Callable[[Path, int], torch.Tensor], threads: int
) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(
            f"image cache folder '{path.parent}' cannot be created ({exc.strerror or exc}); "
            f"choose another {opt('data_cache_dir')} or pass {opt('no_data_cache')}."
        ) from exc
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f, ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            for start in range(0, len(items), CHUNK):
                chunk = [p for p, _ in items[start : start + CHUNK]]
                for image in pool.map(lambda p: decode(p, size), chunk):
                    f.write(image.contiguous().numpy().tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FileWriteError(
            f"image cache '{path}' cannot be written ({exc.strerror or exc}); free some space, "
            f"choose another {opt('data_cache_dir')} or pass {opt('no_data_cache')}."
        ) from exc
    stem = path.name.rsplit("-", 1)[0]  # images-<root>-<split>-<size>px
    for old in path.parent.glob(f"{stem}-*.u8"):
        if old != path:
            old.unlink(missing_ok=True)
