"""A synthetic dense task for segmentation heads, drawn by the classification task's generator, and mean IoU.

The images come from ``data.render_synthetic`` (the same shapes on the same textured clutter, the same seeds). Each
image holds one target shape, repainted a neutral grey, and ``cues`` small coloured squares; the task labels every
pixel: background 0, the shape's pixels ``1 + c`` where ``c`` is the colour class of its *cue*. Which square is the
cue is fixed by geometry, by the label map ``cue``:

- ``row``: the cue sits on the shape's rows, at the far side of the image (the opposite half, in the outermost
  cell); the other squares (decoys, each of another colour) lie in other rows. A gate pooled along the width, one
  value per row (Coordinate Attention's X direction), carries the cue's colour to the shape's rows.
- ``col``: the same along the shape's column (the Y direction).
- ``near``: the control. The cue touches the shape's cell, in the neighbouring cell towards the image centre; the
  decoys lie in cells that share neither its row nor its column. Local context is enough.

With ``cues = 3`` colours and two decoys every image shows all three colours, so the colours present say nothing
about the class: only where the squares are does. The three label maps share every pixel but the squares' places.

Mean IoU (``mean_iou``) is the PASCAL VOC measure: one confusion matrix over all test pixels, IoU = TP / (TP + FP +
FN) per class, averaged over the classes that occur in the labels or the predictions (background included).

Options (``DenseOptions``; ``parse_dense`` reads ``dense:cue=row,grid=4,size=64,...``): ``cue`` (``row``, ``col``,
``near``), ``grid`` (cells per side, 4), ``size`` (px, 64), ``shapes`` (how many of ``data.SHAPES``, 4), ``cues``
(colour classes, 3), ``distractors`` (line segments, 3), ``seed`` (the data seed, 0).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from ..errors import UsageError, opt
from .data.splits import TensorSplit
from .data.synthetic import SHAPES, SyntheticOptions, render_synthetic

__all__ = [
    "CUE_COLOURS",
    "DENSE_CUES",
    "DenseOptions",
    "MeanIoU",
    "confusion",
    "dense_options",
    "dense_options_for",
    "evaluate_miou",
    "label_entropy",
    "make_dense",
    "mean_iou",
    "parse_dense",
    "render_dense",
]

DENSE_CUES = ("row", "col", "near")
"""Label maps of the dense task: the cue far along the shape's row, far along its column, and next to it."""

CUE_COLOURS = ((1.0, 0.15, 0.15), (0.15, 1.0, 0.15), (0.2, 0.35, 1.0), (1.0, 1.0, 0.1), (1.0, 0.2, 1.0))
"""Saturated cue colours, one per class; the target shape is grey, so its own colour carries no class."""

DENSE_KEYS = ("cue", "grid", "size", "shapes", "cues", "distractors", "seed")


@dataclass(frozen=True)
class DenseOptions:
    """The dense task's parameters (see the module docstring); images are ``size × size``."""

    cue: str = "row"
    size: int = 64
    grid: int = 4
    shapes: int = 4
    cues: int = 3
    distractors: int = 3
    train_samples: int = 2000
    test_samples: int = 500
    seed: int = 0

    @property
    def num_classes(self) -> int:
        """Background and one class per cue colour."""
        return 1 + self.cues

    def synthetic(self) -> SyntheticOptions:
        """The generator's options for the same pixels."""
        return SyntheticOptions(
            size=self.size,
            grid=self.grid,
            shapes=SHAPES[: self.shapes],
            train_samples=self.train_samples,
            test_samples=self.test_samples,
            distractors=self.distractors,
            seed=self.seed,
        )

    def validate(self) -> DenseOptions:
        if self.cue not in DENSE_CUES:
            raise UsageError(f"dense cue '{self.cue}' is not one of: {', '.join(DENSE_CUES)}.")
        if not 2 <= self.cues <= len(CUE_COLOURS):
            raise UsageError(f"dense cues must be between 2 and {len(CUE_COLOURS)} colours, got {self.cues}.")
        if not 3 <= self.grid <= 8:
            raise UsageError(f"dense grid must be between 3 and 8 cells per side, got {self.grid}.")
        if not 1 <= self.shapes <= len(SHAPES):
            raise UsageError(f"dense shapes must be between 1 and {len(SHAPES)}, got {self.shapes}.")
        if self.cues - 1 > self.grid - 1 or (self.cue == "near" and self.cues - 1 > (self.grid - 1) ** 2):
            raise UsageError(f"a {self.grid}×{self.grid} grid has no room for {self.cues - 1} decoys.")
        self.synthetic().validate()
        if self.size // self.grid < 12:
            raise UsageError(
                f"dense cells of {self.size // self.grid} px are too small; use {opt('input_size')} "
                f"{12 * self.grid} or more for a {self.grid}×{self.grid} grid."
            )
        return self


def dense_options(text: str) -> tuple[tuple[str, str], ...]:
    """The options a ``dense:KEY=VALUE,...`` text gives, checked and in canonical order (``cue`` always present);
    what ``--data`` keeps, so a row names its task the same however it was typed."""
    opts = parse_dense(text)
    body = text.partition(":")[2]
    given = {item.partition("=")[0].strip() for item in body.split(",") if item.strip()}
    return tuple((k, str(getattr(opts, k))) for k in DENSE_KEYS if k == "cue" or k in given)


def dense_options_for(
    options: tuple[tuple[str, str], ...], size: int, train_samples: int, test_samples: int
) -> DenseOptions:
    """The task ``options`` (``dense_options``) names at ``size`` px with the sweep's split sizes."""
    fields: dict[str, object] = {k: (v if k == "cue" else int(v)) for k, v in options}
    fields.update(train_samples=train_samples, test_samples=test_samples)
    if "size" not in fields:
        fields["size"] = size
    return DenseOptions(**fields).validate()  # type: ignore[arg-type]


def label_entropy(labels: torch.Tensor, num_classes: int) -> float:
    """The loss of the best constant guess per pixel, in nats: the entropy of the label frequencies. The dense
    task's chance loss (most pixels are background, so ``ln(classes)`` would flatter every run)."""
    p = torch.bincount(labels.reshape(-1), minlength=num_classes).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


def parse_dense(text: str) -> DenseOptions:
    """``dense:cue=row,grid=4,size=64,shapes=4,cues=3,distractors=3,seed=0`` (any subset, any order)."""
    kind, _, body = text.partition(":")
    if kind != "dense":
        raise UsageError(f"'{text}' is not a dense task; write dense:cue=row (or col, near).")
    fields: dict[str, object] = {}
    for item in filter(None, (p.strip() for p in body.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in DENSE_KEYS:
            raise UsageError(f"dense option '{item}' is not KEY=VALUE with KEY one of: {', '.join(DENSE_KEYS)}.")
        try:
            fields[key] = value if key == "cue" else int(value)
        except ValueError:
            raise UsageError(f"dense option {key} must be a whole number, got '{value}'.") from None
    return DenseOptions(**fields).validate()  # type: ignore[arg-type]


def _square(n: int, s: int, cy: torch.Tensor, cx: torch.Tensor, half: int) -> torch.Tensor:
    """``N × S × S`` masks of axis-aligned squares of side ``2·half + 1`` centred at (cy, cx), clipped."""
    coords = torch.arange(s)
    ys = (coords.view(1, s) - cy.round().long().view(n, 1)).abs() <= half
    xs = (coords.view(1, s) - cx.round().long().view(n, 1)).abs() <= half
    return ys.view(n, s, 1) & xs.view(n, 1, s)


def render_dense(
    shape_ids: torch.Tensor,
    cell_ids: torch.Tensor,
    cue_ids: torch.Tensor,
    opts: DenseOptions,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (``uint8 N × 3 × S × S``) and per-pixel labels (``int64 N × S × S``) of the dense task."""
    g, n, s, grid = generator, int(shape_ids.shape[0]), opts.size, opts.grid
    images, masks = render_synthetic(shape_ids, cell_ids, opts.synthetic(), g, return_masks=True)
    img = images.float() / 255
    cell = s / grid
    row, col = torch.div(cell_ids, grid, rounding_mode="floor"), cell_ids % grid
    # The shape's centre from its mask (it lies inside its cell).
    yy = torch.arange(s, dtype=torch.float32).view(1, s, 1)
    xx = torch.arange(s, dtype=torch.float32).view(1, 1, s)
    area = masks.sum((1, 2)).clamp_min(1).float()
    cy, cx = (masks * yy).sum((1, 2)) / area, (masks * xx).sum((1, 2)) / area
    half = max(1, round(0.17 * cell))
    centre = lambda i: (i.float() + 0.5) * cell  # noqa: E731  (cell index → pixel centre)
    far = lambda i: torch.where(i < grid / 2, torch.full_like(i, grid - 1), torch.zeros_like(i))  # noqa: E731
    toward = lambda i: torch.where(i < grid / 2, i + 1, i - 1)  # noqa: E731  (the neighbour nearer the centre)
    if opts.cue == "row":
        cue_y, cue_x = cy, centre(far(col))
    elif opts.cue == "col":
        cue_y, cue_x = centre(far(row)), cx
    else:  # near: in the neighbouring cell, against the shape's own
        nb = toward(col)
        edge = torch.where(nb > col, nb.float() * cell + half + 1, (nb + 1).float() * cell - half - 2)
        cue_y, cue_x = cy, edge
    squares = [(cue_y, cue_x, cue_ids)]
    # Decoys: the other colours, each in its own row band (row cue), column band (col cue), or in cells sharing
    # neither the shape's row nor its column (near cue).
    others = (cue_ids.view(n, 1) + torch.arange(1, opts.cues).view(1, -1)) % opts.cues
    # Every draw is made for every label map, so the three maps share the clutter and the shape's grey.
    bands = torch.argsort(torch.rand(n, grid, generator=g), 1)
    bands_b = torch.argsort(torch.rand(n, grid, generator=g), 1)
    along = torch.randint(0, grid, (n, opts.cues - 1), generator=g)
    for k in range(opts.cues - 1):
        if opts.cue == "row":
            dy, dx = centre(_skip(bands, row, k)), centre(along[:, k])
        elif opts.cue == "col":
            dy, dx = centre(along[:, k]), centre(_skip(bands, col, k))
        else:
            r = _skip(bands, row, k % (grid - 1))
            c = _skip(bands_b, col, (k // (grid - 1)) % (grid - 1))
            dy, dx = centre(r), centre(c)
        squares.append((dy, dx, others[:, k]))
    palette = torch.tensor(CUE_COLOURS[: opts.cues])
    for sy, sx, cls in squares:
        box = _square(n, s, sy, sx, half) & ~masks
        colour = palette[cls].view(n, 3, 1, 1)
        img = torch.where(box.unsqueeze(1), colour, img)
    grey = (0.7 + 0.3 * torch.rand(n, 1, 1, 1, generator=g)).expand(n, 3, 1, 1)
    img = torch.where(masks.unsqueeze(1), grey, img)
    painted = masks.unsqueeze(1).expand(n, 3, s, s)
    noise = torch.randn(n, 3, s, s, generator=g) * 0.06
    img = torch.where(painted, img + noise, img)
    labels = masks.long() * (1 + cue_ids.view(n, 1, 1))
    return img.clamp_(0, 1).mul_(255).round_().to(torch.uint8), labels


def _skip(order: torch.Tensor, avoid: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th entry of each row of ``order`` (a permutation of the bands) that is not ``avoid``."""
    keep = order != avoid.view(-1, 1)
    ranked = torch.where(keep, torch.arange(order.shape[1]).view(1, -1), order.shape[1])
    pick = torch.sort(ranked, 1).values[:, k]
    return order.gather(1, pick.view(-1, 1)).squeeze(1)


@functools.lru_cache(maxsize=6)
def make_dense(opts: DenseOptions) -> tuple[TensorSplit, TensorSplit]:
    """Train and test splits (``TensorSplit`` with ``N × S × S`` label maps); seeded by ``opts.seed`` alone, and
    every ``cue`` of the same options draws the same shapes, cells and colours."""
    opts.validate()
    out = []
    for stream, count in ((0, opts.train_samples), (1, opts.test_samples)):
        g = torch.Generator().manual_seed(opts.seed * 1_000_003 + 7919 * stream + 29)
        shape_ids = torch.randint(0, opts.shapes, (count,), generator=g)
        cell_ids = torch.randint(0, opts.grid**2, (count,), generator=g)
        cue_ids = torch.randint(0, opts.cues, (count,), generator=g)
        images, labels = render_dense(shape_ids, cell_ids, cue_ids, opts, g)
        out.append(TensorSplit(images, labels))
    return out[0], out[1]


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``num_classes × num_classes`` counts, rows the labels, columns the predictions (``int64``)."""
    index = target.reshape(-1).long() * num_classes + pred.reshape(-1).long()
    return torch.bincount(index, minlength=num_classes**2).view(num_classes, num_classes)


@dataclass(frozen=True)
class MeanIoU:
    """Mean IoU over the classes present, each class's IoU (``nan`` where absent) and pixel accuracy."""

    miou: float
    per_class: tuple[float, ...]
    pixel_accuracy: float


def mean_iou(matrix: torch.Tensor) -> MeanIoU:
    """Mean IoU from a confusion matrix (``confusion``): classes with no label and no prediction are left out."""
    m = matrix.double()
    tp = m.diag()
    union = m.sum(0) + m.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, math.nan))
    present = union > 0
    miou = float(iou[present].mean()) if bool(present.any()) else math.nan
    return MeanIoU(miou, tuple(float(v) for v in iou), float(tp.sum() / m.sum().clamp_min(1)))


def evaluate_miou(
    model: torch.nn.Module,
    split: TensorSplit,
    transform: Callable[[torch.Tensor], torch.Tensor],
    num_classes: int,
    batch: int = 64,
    device: str = "cpu",
) -> MeanIoU:
    """Mean IoU of ``model`` (logits ``N × classes × H × W``) on ``split``, in eval mode, one confusion matrix."""
    was_training = model.training
    model.eval()
    total = torch.zeros(num_classes, num_classes, dtype=torch.long)
    try:
        with torch.inference_mode():
            for lo in range(0, len(split), batch):
                x = transform(split.images[lo : lo + batch].to(device))
                pred = model(x).argmax(1).cpu()
                total += confusion(pred, split.labels[lo : lo + batch], num_classes)
    finally:
        model.train(was_training)
    return mean_iou(total)


def with_cue(opts: DenseOptions, cue: str) -> DenseOptions:
    """The same task under another label map (same shapes, cells, colours and clutter)."""
    return replace(opts, cue=cue).validate()
