"""The synthetic positional task: shapes on textured clutter, labelled by shape and grid cell."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from ...errors import UsageError, opt
from .splits import TensorSplit

SHAPES = ("square", "disc", "cross", "triangle", "ring", "diamond")
"""Shapes the synthetic generator can draw, in label order."""


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
                f"use {opt('input_size')} {6 * self.grid} or more."
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
    shape_ids: torch.Tensor,
    cell_ids: torch.Tensor,
    opts: SyntheticOptions,
    generator: torch.Generator,
    return_masks: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
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
