"""``--data`` values: the kinds of data ``ablate`` reads, their options and their canonical text (``DataRef``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import UsageError, opt
from .synthetic import SHAPES

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
            raise UsageError(
                f"{opt('data')} '{text}': '{part}' is not KEY=VALUE with KEY one of {', '.join(SYNTHETIC_KEYS)}; "
                f"e.g. {opt('data')} synthetic:labels=shape-row-col,grid=4,size=96."
            )
        if key in given:
            raise UsageError(f"{opt('data')} '{text}' gives {key} twice; give it once.")
        if key == "labels":
            if value not in (*LABEL_MAPS, "all"):
                raise UsageError(
                    f"{opt('data')} '{text}': labels '{value}' is unknown; use {', '.join(LABEL_MAPS)} or all."
                )
        else:
            try:
                number = int(value)
            except ValueError:
                raise UsageError(f"{opt('data')} '{text}': {key} must be a whole number, got '{value}'.") from None
            low = {"grid": 1, "size": 6, "shapes": 1, "distractors": 0, "seed": 0}[key]
            top = {"grid": 8, "size": 1024, "shapes": len(SHAPES), "distractors": 64, "seed": 2**31 - 1}[key]
            if not low <= number <= top:
                raise UsageError(f"{opt('data')} '{text}': {key} must be between {low} and {top}, got {number}.")
            value = str(number)
        given[key] = value
    if not given:
        raise UsageError(
            f"{opt('data')} '{text}' has no options; use {opt('data')} synthetic, or e.g. synthetic:labels=shape,grid=4."
        )
    given.setdefault("labels", "shape-row-col")
    return tuple((k, given[k]) for k in SYNTHETIC_KEYS if k in given)


def parse_data(text: str) -> DataRef:
    """``"synthetic"``, ``"cifar10:/data/x"``… → :class:`DataRef`; raise ``UsageError`` naming the accepted forms."""
    kind, sep, path = text.strip().partition(":")
    kind = kind.strip().lower()
    forms = (
        "synthetic, synthetic-shape, synthetic:labels=...,grid=..., dense:cue=row, cifar10:PATH, cifar100:PATH "
        "or imagefolder:PATH"
    )
    if kind not in DATA_KINDS:
        raise UsageError(f"{opt('data')} '{text}' is not a known data source; use {forms}.")
    if kind == "dense":
        from ..dense import dense_options

        return DataRef("dense", options=dense_options(f"dense:{path}"))
    if kind.startswith("synthetic"):
        if not sep:
            return DataRef(kind)
        if kind != "synthetic" or "=" not in path:
            raise UsageError(
                f"{opt('data')} '{text}': the synthetic tasks take no path; use {opt('data')} {kind}, or options "
                f"such as {opt('data')} synthetic:labels=shape-row-col,grid=4."
            )
        return DataRef("synthetic", options=_synthetic_options(text, path))
    if not path.strip():
        raise UsageError(f"{opt('data')} '{text}' needs a folder: {opt('data')} {kind}:PATH.")
    return DataRef(kind, Path(path.strip()).expanduser())


def expand_data(text: str) -> list[DataRef]:
    """The tasks one ``--data`` value names: ``labels=all`` gives the four label maps (control first)."""
    ref = parse_data(text)
    if ref.option("labels") != "all":
        return [ref]
    return [
        DataRef(ref.kind, options=tuple((k, lab if k == "labels" else v) for k, v in ref.options)) for lab in LABEL_MAPS
    ]
