"""The ablation data sources: the synthetic positional task and its control, CIFAR pickles and image folders.

The readers are tested on small files generated here in the real formats: CIFAR batches as protocol-2 pickles with
bytes keys and numpy arrays referenced as ``numpy.core.multiarray`` (as in the published archives), image folders
as PNG trees in both layouts.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from attnbench.ablation.data import (
    BatchTransform,
    DataError,
    DataRef,
    LazyImageSplit,
    SyntheticOptions,
    TensorSplit,
    load_cifar,
    load_data,
    load_imagefolder,
    make_synthetic,
    parse_data,
    render_synthetic,
    synthetic_labels,
)
from attnbench.errors import UsageError

TINY = SyntheticOptions(size=24, train_samples=64, test_samples=32)


# --- synthetic --------------------------------------------------------------------------------------------------------


def test_synthetic_is_seeded_and_splits_differ() -> None:
    tr1, te1 = make_synthetic(TINY)
    tr2, te2 = make_synthetic(TINY)
    assert torch.equal(tr1.images, tr2.images) and torch.equal(tr1.labels, tr2.labels)
    assert torch.equal(te1.images, te2.images)
    assert tr1.images.shape == (64, 3, 24, 24) and tr1.images.dtype == torch.uint8
    assert not torch.equal(tr1.images[:32], te1.images)
    other, _ = make_synthetic(SyntheticOptions(size=24, train_samples=64, test_samples=32, seed=1))
    assert not torch.equal(other.images, tr1.images)


def test_positional_task_and_control_share_pixels_and_differ_in_labels() -> None:
    pos, _ = make_synthetic(TINY, positional=True)
    ctl, _ = make_synthetic(TINY, positional=False)
    assert torch.equal(pos.images, ctl.images)
    assert torch.equal(pos.labels // TINY.grid**2, ctl.labels)
    assert TINY.num_classes(True) == 16 and TINY.num_classes(False) == 4
    assert int(pos.labels.max()) < 16 and len(pos.labels.unique()) > 8


def test_moving_the_shape_to_another_cell_changes_only_the_positional_label() -> None:
    opts = SyntheticOptions(size=32)
    shapes = torch.tensor([2, 2, 2, 2])  # a cross in each of the four cells
    cells = torch.tensor([0, 1, 2, 3])
    images, masks = render_synthetic(shapes, cells, opts, torch.Generator().manual_seed(0), return_masks=True)
    assert images.shape == (4, 3, 32, 32)
    for i, cell in enumerate(cells.tolist()):
        ys, xs = masks[i].nonzero(as_tuple=True)
        assert len(ys) > 10
        row, col = divmod(cell, 2)
        # The whole shape lies inside its cell.
        assert 16 * row <= int(ys.min()) and int(ys.max()) < 16 * (row + 1)
        assert 16 * col <= int(xs.min()) and int(xs.max()) < 16 * (col + 1)
        # ... and is bright there: the target colour is ≥ 0.6, the background ≤ 0.5, noise σ = 0.06.
        assert images[i].float().div(255).amax(0)[masks[i]].mean() > 0.6
    positional = synthetic_labels(shapes, cells, 2, positional=True)
    control = synthetic_labels(shapes, cells, 2, positional=False)
    assert positional.tolist() == [8, 9, 10, 11]
    assert control.tolist() == [2, 2, 2, 2]


def test_synthetic_options_are_validated() -> None:
    with pytest.raises(UsageError, match="shapes"):
        SyntheticOptions(shapes=("blob",)).validate()
    with pytest.raises(UsageError, match="`input_size`"):
        SyntheticOptions(size=8, grid=2).validate()


def test_load_synthetic_normalises_and_has_no_augmentation() -> None:
    data = load_data(DataRef("synthetic"), 24, SyntheticOptions(train_samples=64, test_samples=16))
    assert data.num_classes == 16 and len(data.train) == 64 and len(data.test) == 16
    assert data.train_transform.kind == "none"  # a flip would move the shape to another cell
    assert isinstance(data.train, TensorSplit)
    x = data.train_transform(data.train.images[:32])
    assert x.dtype == torch.float32 and x.shape == (32, 3, 24, 24)
    assert abs(float(x.mean())) < 0.3 and 0.7 < float(x.std()) < 1.3
    control = load_data(DataRef("synthetic-shape"), 24, SyntheticOptions(train_samples=64, test_samples=16))
    assert control.num_classes == 4


# --- --data parsing --------------------------------------------------------------------------------------------------


def test_parse_data_forms_and_errors() -> None:
    assert parse_data("synthetic") == DataRef("synthetic")
    assert parse_data("cifar10:/x/y") == DataRef("cifar10", Path("/x/y"))
    assert str(parse_data("imagefolder:/d")) == "imagefolder:/d"
    with pytest.raises(UsageError, match="cifar10:PATH"):
        parse_data("mnist")
    with pytest.raises(UsageError, match="needs a folder"):
        parse_data("cifar10:")
    with pytest.raises(UsageError, match="no path"):
        parse_data("synthetic:/x")


# --- CIFAR --------------------------------------------------------------------------------------------------------------


def _cifar_pickle(path: Path, n: int, label_key: bytes, num_classes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, num_classes, size=n).tolist()
    batch = {
        b"batch_label": b"generated",
        label_key: labels,
        b"data": data,
        b"filenames": [b"img%d.png" % i for i in range(n)],
    }
    if label_key == b"fine_labels":
        batch[b"coarse_labels"] = [lab // 5 for lab in labels]
    raw = pickle.dumps(batch, protocol=2)
    # The published files were written before numpy 2 and reference numpy.core.multiarray.
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    return data


def test_cifar10_reader(tmp_path: Path) -> None:
    first = None
    for i in range(1, 6):
        d = _cifar_pickle(tmp_path / f"data_batch_{i}", 6, b"labels", 10, i)
        first = d if first is None else first
    _cifar_pickle(tmp_path / "test_batch", 4, b"labels", 10, 9)
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a"] * 10}, protocol=2))
    train, test, classes = load_cifar("cifar10", tmp_path)
    assert classes == 10 and len(train) == 30 and len(test) == 4
    assert train.images.shape == (30, 3, 32, 32) and train.images.dtype == torch.uint8
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, each row-major.
    assert first is not None
    assert torch.equal(train.images[0, 0], torch.as_tensor(first[0, :1024]).view(32, 32))
    assert torch.equal(train.images[0, 2], torch.as_tensor(first[0, 2048:]).view(32, 32))
    data = load_data(DataRef("cifar10", tmp_path), 32)
    assert data.train_transform.kind == "crop_flip" and data.num_classes == 10


def test_cifar100_reader(tmp_path: Path) -> None:
    _cifar_pickle(tmp_path / "train", 12, b"fine_labels", 100, 1)
    _cifar_pickle(tmp_path / "test", 5, b"fine_labels", 100, 2)
    train, test, classes = load_cifar("cifar100", tmp_path)
    assert classes == 100 and len(train) == 12 and len(test) == 5
    assert int(train.labels.max()) < 100


def test_cifar_errors_name_the_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"folder not found; expected .*data_batch_1"):
        load_cifar("cifar10", tmp_path / "nope")
    with pytest.raises(DataError, match=r"data_batch_1' is missing"):
        load_cifar("cifar10", tmp_path)
    (tmp_path / "train").write_bytes(b"\x00garbage, not a pickle")
    with pytest.raises(DataError, match=r"'.*train' is corrupt .*expected .*train and test"):
        load_cifar("cifar100", tmp_path)
    _cifar_pickle(tmp_path / "train", 3, b"labels", 10, 0)  # a CIFAR-10 batch where CIFAR-100 is expected
    with pytest.raises(DataError, match="lacks 'data' or 'fine_labels'"):
        load_cifar("cifar100", tmp_path)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))


def test_cifar_reader_refuses_code_in_pickles(tmp_path: Path) -> None:
    (tmp_path / "train").write_bytes(pickle.dumps({b"data": _Evil(), b"fine_labels": []}, protocol=2))
    with pytest.raises(DataError, match="refusing to load"):
        load_cifar("cifar100", tmp_path)


# --- image folders ----------------------------------------------------------------------------------------------------


def _png(path: Path, colour: tuple[int, int, int], size: tuple[int, int]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


COLOURS = {"cat": (250, 10, 10), "dog": (10, 250, 10), "emu": (10, 10, 250)}


def _tree(root: Path, per_class: int) -> None:
    for name, colour in COLOURS.items():
        for i in range(per_class):
            _png(root / name / f"{i}.png", colour, (40 + 7 * i, 30 + 3 * i))


def test_imagefolder_train_val_layout(tmp_path: Path) -> None:
    _tree(tmp_path / "train", 3)
    _tree(tmp_path / "val", 2)
    train, val, names = load_imagefolder(tmp_path, 16)
    assert names == ("cat", "dog", "emu")
    assert isinstance(train, TensorSplit) and len(train) == 9 and len(val) == 6
    assert train.images.shape == (9, 3, 18, 18)  # stored at round(16 / 0.875)
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # Pixels survive decoding: every cat is red.
    assert train.images[0, 0].float().mean() > 240 and train.images[0, 1].float().mean() < 20
    lazy_train, _, _ = load_imagefolder(tmp_path, 16, cache=False)
    assert isinstance(lazy_train, LazyImageSplit)
    ((xb, yb),) = list(lazy_train.batches([[0, 4, 8]]))
    assert torch.equal(xb, train.images[[0, 4, 8]]) and yb.tolist() == [0, 1, 2]
    data = load_data(DataRef("imagefolder", tmp_path), 16)
    x = data.train_transform(train.images, torch.Generator().manual_seed(0))
    assert x.shape == (9, 3, 16, 16) and bool(torch.isfinite(x).all())
    assert data.test_transform(val.images).shape == (6, 3, 16, 16)


def test_imagefolder_split_fraction_is_fixed_and_stratified(tmp_path: Path) -> None:
    _tree(tmp_path, 5)
    train, val, names = load_imagefolder(tmp_path, 16, holdout_fraction=0.4)
    assert names == ("cat", "dog", "emu") and len(train) == 9 and len(val) == 6
    assert sorted(val.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    again_train, again_val, _ = load_imagefolder(tmp_path, 16, holdout_fraction=0.4)
    assert torch.equal(train.images, again_train.images) and torch.equal(val.images, again_val.images)


def test_imagefolder_errors_name_the_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="folder not found; expected PATH/train/<class>"):
        load_imagefolder(tmp_path / "nope", 16)
    with pytest.raises(DataError, match="has no class folders"):
        load_imagefolder(tmp_path, 16)
    (tmp_path / "cat").mkdir()
    with pytest.raises(DataError, match=r"class folder '.*cat' holds no images"):
        load_imagefolder(tmp_path, 16)
    _tree(tmp_path, 2)
    (tmp_path / "dog" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"image '.*broken.png' cannot be decoded"):
        load_imagefolder(tmp_path, 16)
    (tmp_path / "dog" / "broken.png").unlink()
    (tmp_path / "train").mkdir()
    _tree(tmp_path / "train", 1)
    with pytest.raises(DataError, match="no val/ folder"):
        load_imagefolder(tmp_path, 16)


# --- batch transforms ---------------------------------------------------------------------------------------------------


def test_crop_flip_is_a_shifted_or_mirrored_window() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8).to(torch.uint8)
    t = BatchTransform("crop_flip", 8, (0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255), pad=0)
    out = t(x, torch.Generator().manual_seed(0))
    for i in range(2):
        assert torch.equal(out[i], x[i].float()) or torch.equal(out[i], x[i].float().flip(-1))
    padded = BatchTransform("crop_flip", 8, (0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255), pad=4)
    a = padded(x, torch.Generator().manual_seed(3))
    b = padded(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (2, 3, 8, 8)
    assert set(a.unique().tolist()) <= set(x.float().unique().tolist()) | {0.0}


def test_random_resized_crop_of_a_constant_image_is_constant() -> None:
    x = torch.full((4, 3, 20, 20), 100, dtype=torch.uint8)
    t = BatchTransform("rrc_flip", 12, (0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255))
    out = t(x, torch.Generator().manual_seed(0))
    assert out.shape == (4, 3, 12, 12) and torch.allclose(out, torch.full_like(out, 100.0), atol=1e-3)


# --- image folders decoded once, and data loader workers kept between epochs ------------------------------------------


def test_disk_cache_decodes_once_maps_the_file_and_matches_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attnbench.ablation.data import imagefolder

    _tree(tmp_path / "imgs" / "train", 3)
    _tree(tmp_path / "imgs" / "val", 2)
    cache = tmp_path / "cache"
    plain_train, plain_val, _ = load_imagefolder(tmp_path / "imgs", 16)
    calls: list[Path] = []
    real = imagefolder._decode
    monkeypatch.setattr(imagefolder, "_decode", lambda p, s: calls.append(p) or real(p, s))
    train, val, names = load_imagefolder(tmp_path / "imgs", 16, cache_dir=cache)
    assert len(calls) == 15 and names == ("cat", "dog", "emu")
    assert torch.equal(train.images, plain_train.images) and torch.equal(val.images, plain_val.images)
    assert torch.equal(train.labels, plain_train.labels)
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2 and all(f.endswith(".u8") for f in files)  # no temporary file left
    again, _, _ = load_imagefolder(tmp_path / "imgs", 16, cache_dir=cache)
    assert len(calls) == 15 and torch.equal(again.images, train.images)  # reused: nothing decoded
    # The folder changes (an image replaced): a new file, the old one removed, the new pixels read.
    _png(tmp_path / "imgs" / "train" / "cat" / "0.png", (0, 0, 255), (40, 30))
    changed, _, _ = load_imagefolder(tmp_path / "imgs", 16, cache_dir=cache)
    assert len(calls) == 24 and changed.images[0, 2].float().mean() > 240  # the training split again, not the test
    assert len(list(cache.iterdir())) == 2 and sorted(p.name for p in cache.iterdir()) != files


def test_disk_cache_folder_that_cannot_be_made_is_one_error(tmp_path: Path) -> None:
    from attnbench.errors import FileWriteError

    _tree(tmp_path / "imgs", 2)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileWriteError, match="image cache folder .* cannot be created.*`no_data_cache`"):
        load_imagefolder(tmp_path / "imgs", 16, cache_dir=tmp_path / "file" / "sub")


class _PidSplit(LazyImageSplit):
    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        import os

        return torch.zeros(1), torch.tensor(os.getpid())


def test_lazy_split_keeps_its_workers_between_epochs(tmp_path: Path) -> None:
    split = _PidSplit([tmp_path / f"{i}" for i in range(8)], list(range(8)), 16)
    epochs = [
        {int(p) for _, yb in split.batches([[0, 1, 2, 3], [4, 5, 6, 7]], num_workers=2) for p in yb} for _ in range(3)
    ]
    assert len(epochs[0]) == 2 and epochs[0] == epochs[1] == epochs[2]  # the same two worker processes


def test_dropping_a_lazy_split_stops_its_workers_at_once(tmp_path: Path) -> None:
    """No reference cycle keeps the workers for a garbage collection (which then waited 5 s for each)."""
    import gc
    import time

    split = _PidSplit([tmp_path / f"{i}" for i in range(4)], list(range(4)), 16)
    pids = {int(p) for _, yb in split.batches([[0, 1], [2, 3]], num_workers=2) for p in yb}
    gc.disable()
    try:
        start = time.monotonic()
        del split
        stopped = time.monotonic() - start
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    finally:
        gc.enable()
    assert not alive and stopped < 2.0, (alive, stopped)
