"""The ablation recipe's design: common random numbers, the per-run convergence check, the validation split, and
files written before these columns existed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from attnbench.ablation.convergence import MAX_LOSS_RATIO, MAX_SLOPE_PP, curve_slope_pp, judge
from attnbench.ablation.data import TensorSplit, split_off
from attnbench.ablation.records import ADDED_COLUMNS, COLUMNS, read_records
from attnbench.ablation.run import build_model, module_seed
from attnbench.ablation.spec import build_ablation_spec
from attnbench.errors import ResultsFileError

MODULES = ("none", "se", "cbam", "ca", "ca_x", "ca_y")


def _spec(**kw: object):
    return build_ablation_spec(None, modules=MODULES, backbone="mbv2", width=0.35, input_size=32, **kw)


def _backbone_state(model: torch.nn.Module, keys: set[str]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k in keys}


def test_a_seed_gives_every_module_the_same_backbone_and_seeds_differ() -> None:
    spec = _spec()
    base0 = build_model(spec, "none", 10, 0)
    keys = set(base0.state_dict())
    shared0 = _backbone_state(base0, keys)
    weights = [k for k, v in shared0.items() if v.is_floating_point() and v.ndim > 1]
    assert len(weights) >= 50  # every conv and the classifier
    for name in MODULES[1:]:
        model = build_model(spec, name, 10, 0)
        assert len(model.state_dict()) > len(keys), name  # the module added tensors of its own
        for k, v in _backbone_state(model, keys).items():
            assert torch.equal(v, shared0[k]), (name, k)
    other = _backbone_state(build_model(spec, "ca", 10, 1), keys)
    assert all(not torch.equal(other[k], shared0[k]) for k in weights)


def test_the_attention_weights_come_from_the_seed_and_the_module_name() -> None:
    spec = _spec()
    own = lambda m: {k: v for k, v in m.state_dict().items() if ".attn." in k and v.ndim > 1}  # noqa: E731
    a, again, seed1 = (own(build_model(spec, "ca", 10, s)) for s in (0, 0, 1))
    assert a and all(torch.equal(a[k], again[k]) for k in a)
    assert all(not torch.equal(a[k], seed1[k]) for k in a)
    assert module_seed(0, "ca") != module_seed(0, "se") != module_seed(1, "se")
    assert module_seed(3, "ca") == module_seed(3, "ca")


def test_building_leaves_the_global_generator_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(_spec(), "se", 10, 4)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("loss", "curve", "classes", "converged"),
    [
        (0.06, [0.90, 0.94, 0.94, 0.95], 96, True),  # fits: loss 1.3 % of ln 96, flat
        (0.43, [0.76, 0.77, 0.79, 0.79], 96, False),  # under-fitted: 9.4 % of ln 96
        (0.06, [0.70, 0.80, 0.90], 96, False),  # still rising 10 pp/epoch
        (1.79, [0.17, 0.17, 0.17], 6, False),  # chance on 6 classes
        (0.04, [], 24, True),  # no curve: the loss decides
        (float("nan"), [0.5, 0.5], 24, None),  # failed run: unknown
        (None, [0.5], 24, None),
    ],
)
def test_convergence_rule(loss: float | None, curve: list[float], classes: int, converged: bool | None) -> None:
    verdict = judge(loss, curve, classes)
    assert verdict.converged is converged
    if loss is not None and math.isfinite(loss):
        assert verdict.final_loss_ratio == pytest.approx(loss / math.log(classes))


def test_convergence_limits_sit_on_the_boundary() -> None:
    ln = math.log(24)
    assert judge(MAX_LOSS_RATIO * ln * 0.99, [0.5, 0.5, 0.5], 24).converged is True
    assert judge(MAX_LOSS_RATIO * ln * 1.01, [0.5, 0.5, 0.5], 24).converged is False
    step = MAX_SLOPE_PP / 100
    assert judge(0.01, [0.5, 0.5 + 0.99 * step, 0.5 + 1.98 * step], 24).converged is True
    assert judge(0.01, [0.5, 0.5 + 1.1 * step, 0.5 + 2.2 * step], 24).converged is False
    # A slope exactly on the limit converges, however float rounding reads it (this curve gives 1.0000000000000009).
    assert judge(0.01, [0.862, 0.874, 0.882], 24).converged is True


def test_curve_slope_is_the_least_squares_slope_of_the_last_epochs() -> None:
    assert curve_slope_pp([0.1, 0.5, 0.6, 0.7]) == pytest.approx(10.0)
    assert curve_slope_pp([0.6, 0.9, 0.6]) == pytest.approx(0.0)
    assert curve_slope_pp([0.4]) is None


def test_split_off_holds_out_the_same_share_of_every_class_whatever_the_run() -> None:
    labels = torch.arange(4).repeat_interleave(10)
    images = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 3, 2, 2).clone()
    rest, held = split_off(TensorSplit(images, labels), 0.2)
    assert len(held) == 8 and len(rest) == 32
    assert torch.bincount(held.labels).tolist() == [2, 2, 2, 2]
    seen = set(rest.images[:, 0, 0, 0].tolist()) | set(held.images[:, 0, 0, 0].tolist())
    assert seen == set(range(40)) and not set(rest.images[:, 0, 0, 0].tolist()) & set(held.images[:, 0, 0, 0].tolist())
    again_rest, again_held = split_off(TensorSplit(images, labels), 0.2)
    assert torch.equal(held.images, again_held.images) and torch.equal(rest.labels, again_rest.labels)


@pytest.mark.slow
def test_a_validation_share_moves_evaluation_off_the_test_split(tmp_path: Path) -> None:
    from attnbench.ablation.run import run_ablation

    spec = build_ablation_spec(
        None,
        modules=("none", "se"),
        backbone="mbv2",
        width=0.35,
        input_size=24,
        data=("synthetic",),
        epochs=1,
        seeds=(0,),
        train_samples=400,
        test_samples=100,
        val_fraction=0.25,
        csv=tmp_path / "runs.csv",
        threads=1,
        curve_samples=0,
    )
    result = run_ablation(spec)
    for r in result.records:
        assert (r.eval_split, r.val_fraction, r.train_samples + r.test_samples) == ("val", 0.25, 400)
        assert 90 <= r.test_samples <= 110  # a quarter of each class, rounded per class
    again = read_records(tmp_path / "runs.csv")
    assert [r.eval_split for r in again] == ["val", "val"]


def _old_file(path: Path, rows: list[dict[str, str]]) -> None:
    header = [c for c in COLUMNS if c not in ADDED_COLUMNS]
    lines = [",".join(header)] + [",".join(r.get(c, "") for c in header) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def _row(**kw: str) -> dict[str, str]:
    row = {c: "" for c in COLUMNS}
    row.update(
        backbone="mbv2",
        module="se",
        width="0.35",
        input_size="48",
        small_input="False",
        data="synthetic",
        num_classes="24",
        train_samples="4000",
        test_samples="1000",
        epochs="3",
        batch="64",
        lr="0.05",
        weight_decay="0.0005",
        momentum="0.9",
        warmup_epochs="1.0",
        label_smoothing="0.0",
        augment="none",
        sync_bn="False",
        seed="0",
        device="cpu",
        threads="1",
        world_size="1",
        top1="0.9",
        final_loss="0.06",
        curve_top1="0.9 0.9 0.9",
        curve_samples="100",
        train_seconds="1",
        throughput_ips="1",
        epochs_done="3",
        status="ok",
    )
    row.update(kw)
    return row


def test_an_older_file_reads_with_its_meaning_and_a_computed_verdict(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    _old_file(path, [_row(), _row(seed="1", final_loss="0.9")])
    a, b = read_records(path)
    assert (a.init, a.eval_split, a.val_fraction, a.amp, a.compile) == ("global", "test", 0.0, "none", False)
    assert a.converged is True and b.converged is False
    assert b.final_loss_ratio == pytest.approx(0.9 / math.log(24))


@pytest.mark.parametrize(
    ("column", "value", "why"),
    [
        ("top1", "5.0", "outside 0..1"),
        ("top1", "-1", "outside 0..1"),
        ("top1", "nan", "not a finite number"),
        ("top1", "", "empty in a row with status ok"),
        ("final_loss", "inf", "not finite"),
        ("params", "-3", "negative"),
        ("curve_top1", "0.5 oops", "not a list of numbers"),
        ("curve_top1", "0.5 7", "outside 0..1"),
        ("status", "maybe", "not ok or failed"),
        ("sync_bn", "perhaps", "not true or false"),
    ],
)
def test_a_bad_value_is_refused_with_its_file_line_and_column(
    tmp_path: Path, column: str, value: str, why: str
) -> None:
    path = tmp_path / "bad.csv"
    _old_file(path, [_row(), _row(seed="1", **{column: value})])
    with pytest.raises(ResultsFileError, match=rf"bad.csv:3: column {column} .*{why}"):
        read_records(path)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"amp": "fp8"}, "`amp` 'fp8' is unknown; choose from: none, bf16, fp16"),
        ({"amp": "fp16"}, "`amp` fp16 needs `device` cuda"),
        ({"val_fraction": 1.0}, r"`val_fraction` must be in \[0, 1\)"),
        ({"val_fraction": -0.1}, r"`val_fraction` must be in \[0, 1\)"),
        ({"holdout_fraction": 0.0}, "`holdout_fraction` must be between 0 and 1"),
        ({"primary": (("ca", "cbam"),)}, "`primary` ca-cbam: each side must be a different module of `modules`"),
    ],
)
def test_recipe_options_are_checked(given: dict[str, object], message: str) -> None:
    from attnbench.errors import UsageError

    with pytest.raises(UsageError, match=message):
        build_ablation_spec(None, modules=("none", "se", "ca"), **given)


def test_primary_contrasts_come_first_and_follow_the_modules_run() -> None:
    spec = build_ablation_spec("ca-table1")
    assert spec.primary == (("ca", "se"), ("ca", "ca_x"), ("ca", "ca_y"))
    assert spec.contrast_pairs()[:3] == spec.primary
    fewer = build_ablation_spec("ca-table1", modules=("se", "ca"))
    assert fewer.primary == (("ca", "se"),)
    own = build_ablation_spec(None, modules=("none", "se", "ca"), primary=(("se", "none"),))
    assert own.contrast_pairs()[0] == ("se", "none") and ("ca", "se") in own.contrast_pairs()
