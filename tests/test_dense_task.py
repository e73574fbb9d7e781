"""The synthetic dense task (``attnbench.ablation.dense``): its geometry, its labels, mean IoU, and one short fit."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attnbench import modules
from attnbench.ablation.data import BatchTransform, render_synthetic
from attnbench.ablation.dense import (
    CUE_COLOURS,
    DENSE_CUES,
    DenseOptions,
    confusion,
    evaluate_miou,
    make_dense,
    mean_iou,
    parse_dense,
    render_dense,
)
from attnbench.errors import UsageError

OPTS = DenseOptions(size=64, grid=4, train_samples=64, test_samples=16)


def _squares(image: torch.Tensor, cues: int) -> list[tuple[int, float, float]]:
    """(colour class, centre row, centre column) of every cue-coloured square in one ``3 × S × S`` image."""
    found = []
    for k, colour in enumerate(CUE_COLOURS[:cues]):
        target = torch.tensor(colour).mul(255).round().view(3, 1, 1)
        hit = (image.float() - target).abs().amax(0) <= 1
        if hit.sum() >= 4:
            ys, xs = hit.nonzero(as_tuple=True)
            found.append((k, ys.float().mean().item(), xs.float().mean().item()))
    return found


@pytest.mark.parametrize("cue", DENSE_CUES)
def test_the_cue_sits_where_the_label_map_says(cue: str) -> None:
    train, _ = make_dense(DenseOptions(cue=cue, size=64, grid=4, train_samples=64, test_samples=16))
    cell = 16
    for image, labels in zip(train.images, train.labels):
        shape = labels > 0
        cls = int(labels[shape].unique().item()) - 1  # one shape, one class
        ys, xs = shape.nonzero(as_tuple=True)
        cy, cx = ys.float().mean().item(), xs.float().mean().item()
        squares = _squares(image, 3)
        assert sorted(k for k, _, _ in squares) == [0, 1, 2]  # every colour in every image: presence says nothing
        (_, qy, qx), decoys = next(s for s in squares if s[0] == cls), [s for s in squares if s[0] != cls]
        row, col = int(cy // cell), int(cx // cell)
        if cue == "row":
            assert abs(qy - cy) <= 1.5 and abs(qx - cx) >= 1.5 * cell  # far along the shape's own rows
            assert all(int(dy // cell) != row for _, dy, _ in decoys)
        elif cue == "col":
            assert abs(qx - cx) <= 1.5 and abs(qy - cy) >= 1.5 * cell
            assert all(int(dx // cell) != col for _, _, dx in decoys)
        else:
            assert abs(qy - cy) <= 1.5 and abs(qx - cx) <= 1.2 * cell  # beside it
            assert all(int(dy // cell) != row and int(dx // cell) != col for _, dy, dx in decoys)


def test_the_label_maps_share_every_pixel_but_the_squares() -> None:
    splits = {cue: make_dense(DenseOptions(cue=cue, **_small()))[0] for cue in DENSE_CUES}
    base = splits["row"]
    for split in splits.values():
        assert torch.equal(split.labels, base.labels)  # same shapes, places and classes
        moved = (split.images != base.images).any(1)  # N × S × S: pixels that differ from the row map's
        assert (moved.sum((1, 2)) <= 2 * 3 * 7 * 7).all()  # only the squares moved: 3 of 7 × 7 px, old and new
        assert not moved[base.labels > 0].any()


def _small() -> dict[str, int]:
    return {"size": 48, "grid": 3, "train_samples": 32, "test_samples": 8}


def test_shapes_and_clutter_come_from_the_classification_generator() -> None:
    opts = DenseOptions(cue="row", **_small())
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    ids = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 4, 8, 5]), torch.tensor([0, 1, 2, 0])
    _, labels = render_dense(*ids, opts, g1)
    _, masks = render_synthetic(ids[0], ids[1], opts.synthetic(), g2, return_masks=True)
    assert torch.equal(labels > 0, masks) and torch.equal(
        labels[masks], (1 + ids[2]).repeat_interleave(masks.sum((1, 2)))
    )


def test_options_parse_and_validate() -> None:
    opts = parse_dense("dense:cue=col,grid=5,size=80,cues=4,seed=3")
    assert (opts.cue, opts.grid, opts.size, opts.cues, opts.seed, opts.num_classes) == ("col", 5, 80, 4, 3, 5)
    for bad, says in (
        ("dense:cue=diag", "not one of: row, col, near"),
        ("dense:grid=2", "between 3 and 8"),
        ("dense:size=32", "too small"),
        ("dense:colour=1", "KEY=VALUE"),
        ("dense:grid=x", "whole number"),
        ("synthetic:cue=row", "not a dense task"),
        ("dense:cues=5,grid=3", "no room"),
    ):
        with pytest.raises(UsageError, match=says):
            parse_dense(bad)


def test_mean_iou_by_hand() -> None:
    target = torch.tensor([[0, 0, 1, 1], [0, 2, 2, 2]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 2, 2, 0]])
    m = confusion(pred, target, 4)
    assert m.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    got = mean_iou(m)
    # IoU: background 2/(3+3-2) = 1/2, class 1 2/(2+3-2) = 2/3, class 2 2/(3+2-2) = 2/3; class 3 absent: left out.
    assert got.miou == pytest.approx((1 / 2 + 2 / 3 + 2 / 3) / 3) and math.isnan(got.per_class[3])
    assert got.pixel_accuracy == pytest.approx(6 / 8)


def test_evaluate_miou_of_a_model_that_sees_only_background() -> None:
    _, test = make_dense(DenseOptions(cue="near", **_small()))

    class Background(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(x.shape[0], 4, *x.shape[2:])
            out[:, 0] = 1
            return out

    got = evaluate_miou(Background(), test, lambda x: x.float(), 4, batch=3)
    background = float((test.labels == 0).float().mean())
    present = int(test.labels.unique().numel())
    assert got.miou == pytest.approx(background / present) and got.pixel_accuracy == pytest.approx(background)


@pytest.mark.long
def test_a_segmentation_head_learns_the_near_cue_task() -> None:
    """A few hundred steps of plain SGD: the pieces compose with ``F.cross_entropy`` on label maps."""
    torch.manual_seed(0)
    opts = DenseOptions(cue="near", size=48, grid=3, train_samples=256, test_samples=64)
    train, test = make_dense(opts)
    norm = BatchTransform("none", 48, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    model = modules.create_model("mbv2", "ca", width=0.35, head="lraspp", num_classes=opts.num_classes)
    before = evaluate_miou(model, test, norm, opts.num_classes).miou
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    losses = []
    for _ in range(30):
        idx = torch.randint(0, len(train), (16,))
        loss = F.cross_entropy(model(norm(train.images[idx])), train.labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    after = evaluate_miou(model, test, norm, opts.num_classes)
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5]) and after.miou > before
