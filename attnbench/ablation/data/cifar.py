"""CIFAR-10/100 from the python-pickle batches on local disk (never downloaded; numpy arrays only)."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any, ClassVar

import torch

from ...errors import DataError, opt
from .refs import CIFAR_LAYOUT
from .splits import TensorSplit


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
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        OSError,
    ) as exc:
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
        raise DataError(f"{opt('data')} {kind}:{root}: folder not found; expected {layout}.")
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
                f"{opt('data')} {kind}:{root}: labels span {lo}..{hi}, outside 0..{classes - 1}; expected {layout}."
            )
    return train, test, classes
