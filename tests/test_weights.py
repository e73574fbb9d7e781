"""Loading the Coordinate Attention authors' ``mbv2_ca.pth`` layout into our ``mbv2`` + ``ca``.

``RefMBV2CA`` below re-implements houqb/CoordAttention ``mbv2_ca.py`` (commit 227af76) with the same module tree,
so its ``state_dict()`` has exactly the released checkpoint's keys (``features.0.0``, ``features.i.conv.k``,
``conv.0``, ``classifier.1``; CoordAtt ``conv1``/``bn1``/``conv2``/``conv3``). Randomised weights and BN statistics
saved from it and loaded into our model must give the same outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from attnbench.cost.weights import (
    CheckpointFileError,
    UnsafeCheckpointError,
    WeightsError,
    ca_checkpoint_key_map,
    load_ca_checkpoint,
    map_ca_checkpoint_keys,
)
from attnbench.errors import UsageError
from attnbench.modules import create_model

# -- the authors' model structure (mbv2_ca.py) -------------------------------------------------------------------


class HSigmoid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + 3) / 6


class HSwish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sigmoid = HSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(x)


class RefCoordAtt(nn.Module):
    """``CoordAtt(inp, oup, groups=32)`` of mbv2_ca.py: pool_h/pool_w, conv1, bn1, h_swish, conv2 (H), conv3 (W)."""

    def __init__(self, inp: int, oup: int, groups: int = 32) -> None:
        super().__init__()
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        mip = max(8, inp // groups)
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.conv2 = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)
        self.conv3 = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)
        self.relu = HSwish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        _, _, h, w = x.size()
        x_h = self.pool_h(x)
        x_w = self.pool_w(x).permute(0, 1, 3, 2)
        y = self.relu(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        x_h, x_w = torch.split(y, [h, w], dim=2)
        x_w = x_w.permute(0, 1, 3, 2)
        a_h = self.conv2(x_h).sigmoid().expand(-1, -1, h, w)
        a_w = self.conv3(x_w).sigmoid().expand(-1, -1, h, w)
        return identity * a_w * a_h


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _conv_bn_relu(inp: int, oup: int, k: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, k, stride, (k - 1) // 2, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True)
    )


class RefInvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.identity = stride == 1 and inp == oup
        if expand_ratio == 1:
            self.conv = nn.Sequential(
                nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
                nn.BatchNorm2d(oup),
            )
        else:
            self.conv = nn.Sequential(
                nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
                RefCoordAtt(hidden, hidden),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
                nn.BatchNorm2d(oup),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.identity else self.conv(x)


class RefMBV2CA(nn.Module):
    """``MBV2_CA(num_classes, width_mult)`` of mbv2_ca.py."""

    CFGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0) -> None:
        super().__init__()
        divisor = 4 if width_mult == 0.1 else 8
        inp = _make_divisible(32 * width_mult, divisor)
        layers: list[nn.Module] = [_conv_bn_relu(3, inp, 3, 2)]
        for t, c, n, s in self.CFGS:
            out = _make_divisible(c * width_mult, divisor)
            for i in range(n):
                layers.append(RefInvertedResidual(inp, out, s if i == 0 else 1, t))
                inp = out
        self.features = nn.Sequential(*layers)
        last = _make_divisible(1280 * width_mult, divisor) if width_mult > 1.0 else 1280
        self.conv = _conv_bn_relu(inp, last, 1, 1)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.1), nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.conv(self.features(x)))
        return self.classifier(x.view(x.size(0), -1))


def _randomise(model: nn.Module, seed: int = 1) -> None:
    """Random weights, biases and BN statistics, scaled so activations stay O(1) through 17 blocks."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.5 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.3)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.num_batches_tracked.fill_(int(torch.randint(1, 10_000, (1,), generator=g)))


def _reference_checkpoint(tmp_path: Path, width: float = 1.0, num_classes: int = 1000) -> tuple[RefMBV2CA, Path]:
    ref = RefMBV2CA(num_classes=num_classes, width_mult=width)
    _randomise(ref)
    path = tmp_path / "mbv2_ca.pth"
    torch.save(ref.state_dict(), path)
    return ref, path


@pytest.fixture(scope="module")
def ref_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[RefMBV2CA, Path]:
    return _reference_checkpoint(tmp_path_factory.mktemp("ckpt"))


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and text
    return text


# -- the mapping -------------------------------------------------------------------------------------------------


def test_reference_has_the_documented_key_layout(ref_ckpt: tuple[RefMBV2CA, Path]) -> None:
    keys = set(ref_ckpt[0].state_dict())
    for key in (
        "features.0.0.weight",
        "features.0.1.running_var",
        "features.1.conv.0.weight",
        "features.1.conv.4.bias",
        "features.2.conv.0.weight",
        "features.2.conv.6.conv1.weight",
        "features.2.conv.6.bn1.running_mean",
        "features.2.conv.6.conv2.bias",
        "features.2.conv.6.conv3.weight",
        "features.17.conv.8.weight",
        "conv.0.weight",
        "conv.1.bias",
        "classifier.1.weight",
    ):
        assert key in keys, key
    assert not any(k.startswith("features.18.") for k in keys)
    assert not any(k.startswith("features.1.conv.6") for k in keys)  # the t = 1 block has no CA


def test_key_map_covers_every_key_one_to_one(ref_ckpt: tuple[RefMBV2CA, Path]) -> None:
    model = create_model("mbv2", "ca")
    mapping = ca_checkpoint_key_map(model)
    assert set(mapping) == set(model.state_dict())
    assert sorted(mapping.values()) == sorted(ref_ckpt[0].state_dict())
    assert mapping["features.stage1.0.project.0.weight"] == "features.1.conv.3.weight"
    assert mapping["features.stage2.0.attn.conv_h.weight"] == "features.2.conv.6.conv2.weight"
    assert mapping["features.stage2.0.attn.conv_w.bias"] == "features.2.conv.6.conv3.bias"
    assert mapping["features.stage7.0.project.1.running_var"] == "features.17.conv.8.running_var"
    assert mapping["features.head.1.weight"] == "conv.1.weight"


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_loaded_model_matches_the_reference(tmp_path: Path, width: float) -> None:
    ref, path = _reference_checkpoint(tmp_path, width=width)
    ours = create_model("mbv2", "ca", width=width)
    load_ca_checkpoint(ours, path)
    # float64 so that the comparison tests the mapping, not float32 rounding through 17 blocks.
    ref, ours = ref.double().eval(), ours.double().eval()
    x = torch.randn(2, 3, 72, 56, dtype=torch.float64)  # non-square: a swapped H/W gate would show
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert expected.std() > 1e-2  # outputs carry signal, so equality is not vacuous
    assert (expected - got).abs().max().item() <= 1e-5


def test_swapped_gates_would_be_caught(ref_ckpt: tuple[RefMBV2CA, Path]) -> None:
    """Sensitivity check of the equivalence test: conv2/conv3 swapped gives other outputs."""
    ref = ref_ckpt[0]
    state = dict(ref.state_dict())
    for k in list(state):
        if ".conv.6.conv2." in k:
            other = k.replace(".conv2.", ".conv3.")
            state[k], state[other] = state[other], state[k]
    ours = create_model("mbv2", "ca")
    ours.load_state_dict(map_ca_checkpoint_keys(state, ours))
    x = torch.randn(1, 3, 72, 56, dtype=torch.float64)
    with torch.no_grad():
        diff = (ref.double().eval()(x) - ours.double().eval()(x)).abs().max().item()
    ref.float()
    assert diff > 1e-3


def test_wrapped_and_dataparallel_checkpoints(ref_ckpt: tuple[RefMBV2CA, Path], tmp_path: Path) -> None:
    ref = ref_ckpt[0]
    plain = ref.state_dict()
    prefixed = {f"module.{k}": v for k, v in plain.items()}
    model = create_model("mbv2", "ca")
    expected = map_ca_checkpoint_keys(plain, model)
    for wrapped in ({"state_dict": prefixed, "epoch": 199, "best_prec1": 74.3}, {"model": plain}, prefixed):
        got = map_ca_checkpoint_keys(wrapped, model)
        assert got.keys() == expected.keys()
        assert all(torch.equal(got[k], expected[k]) for k in got)
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": prefixed, "epoch": 199}, path)
    load_ca_checkpoint(model, path)
    assert torch.equal(model.state_dict()["classifier.1.weight"], plain["classifier.1.weight"])


def test_missing_num_batches_tracked_is_tolerated(ref_ckpt: tuple[RefMBV2CA, Path]) -> None:
    state = {k: v for k, v in ref_ckpt[0].state_dict().items() if not k.endswith("num_batches_tracked")}
    model = create_model("mbv2", "ca")
    model.load_state_dict(map_ca_checkpoint_keys(state, model), strict=True)


# -- errors ------------------------------------------------------------------------------------------------------


def test_missing_and_extra_keys_are_listed_in_one_line(ref_ckpt: tuple[RefMBV2CA, Path]) -> None:
    state = dict(ref_ckpt[0].state_dict())
    del state["features.3.conv.6.conv2.weight"], state["features.3.conv.6.conv2.bias"]
    del state["conv.1.running_mean"]
    state["features.18.conv.0.weight"] = torch.zeros(1)
    state["fc.bias"] = torch.zeros(1)
    with pytest.raises(WeightsError) as info:
        map_ca_checkpoint_keys(state, create_model("mbv2", "ca"))
    text = _one_line(info.value)
    assert "3 missing" in text and "features.3.conv.6.conv2.{weight,bias}" in text and "conv.1.running_mean" in text
    assert "2 unexpected" in text and "features.18.conv.0.weight" in text and "fc.bias" in text
    # a file that does not fit the model is bad input, like one that cannot be read: exit 2
    assert info.value.exit_code == 2 and isinstance(info.value, UsageError)


def test_wrong_shapes_name_keys_and_both_shapes(ref_ckpt: tuple[RefMBV2CA, Path], tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as info:
        load_ca_checkpoint(create_model("mbv2", "ca", num_classes=10), ref_ckpt[1])
    text = _one_line(info.value)
    assert "classifier.1.weight (1000,1280) vs model classifier.1.weight (10,1280)" in text
    assert "2 with another shape" in text and "1000 classes" in text
    with pytest.raises(WeightsError) as info:
        load_ca_checkpoint(create_model("mbv2", "ca", width=0.75), ref_ckpt[1])
    text = _one_line(info.value)
    assert "features.0.0.weight (32,3,3,3) vs model features.stem.0.weight (24,3,3,3)" in text
    assert "... and" in text and "width" in text


def test_other_models_are_refused() -> None:
    with pytest.raises(WeightsError, match="'ca'"):
        ca_checkpoint_key_map(create_model("mbv2", "se"))
    with pytest.raises(WeightsError, match="only MobileNetV2"):
        ca_checkpoint_key_map(create_model("r18", "ca"))
    with pytest.raises(WeightsError, match="after_dw"):
        ca_checkpoint_key_map(create_model("mbv2", "ca", position="block_end"))
    with pytest.raises(WeightsError, match="not 'ca_x' or 'ca_y'"):
        map_ca_checkpoint_keys(RefMBV2CA().state_dict(), create_model("mbv2", "ca_y"))
    with pytest.raises(WeightsError, match="CA reduction 32") as info:  # CA r=16 has a wider bottleneck
        map_ca_checkpoint_keys(RefMBV2CA().state_dict(), create_model("mbv2", "ca", attn_kwargs={"reduction": 16}))
    assert "features.3.conv.6.conv1.weight (8,144,1,1) vs model features.stage2.1.attn.conv1.weight (9,144,1,1)" in (
        _one_line(info.value)
    )


def test_unrelated_state_dict_is_named_as_such() -> None:
    with pytest.raises(WeightsError, match="does not look like mbv2_ca.pth") as info:
        map_ca_checkpoint_keys(create_model("mbv2", "ca").state_dict(), create_model("mbv2", "ca"))
    assert "more key(s)" in _one_line(info.value)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_files_raise_a_usage_error(ref_ckpt: tuple[RefMBV2CA, Path], tmp_path: Path, damage: str) -> None:
    data = ref_ckpt[1].read_bytes()
    path = tmp_path / f"{damage}.pth"
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"not a checkpoint" * 10, "empty": b""}[damage])
    with pytest.raises(CheckpointFileError) as info:
        load_ca_checkpoint(create_model("mbv2", "ca"), path)
    text = _one_line(info.value)
    assert str(path) in text and "corrupt, truncated" in text
    assert info.value.exit_code == 2 and isinstance(info.value, UsageError)


def test_missing_path_and_non_dict(tmp_path: Path) -> None:
    with pytest.raises(CheckpointFileError, match="does not exist"):
        load_ca_checkpoint(create_model("mbv2", "ca"), tmp_path / "nope.pth")
    with pytest.raises(CheckpointFileError, match="is a folder"):
        load_ca_checkpoint(create_model("mbv2", "ca"), tmp_path)
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointFileError, match="holds a list, not a state dict"):
        load_ca_checkpoint(create_model("mbv2", "ca"), path)


class Payload:
    """A custom class: unpickling it needs arbitrary code, which weights_only must refuse."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


class Plain:
    pass


@pytest.mark.parametrize("obj", [Payload(), Plain()], ids=["reduce", "class"])
def test_pickled_objects_are_refused(
    ref_ckpt: tuple[RefMBV2CA, Path], tmp_path: Path, obj: object, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "unsafe.pth"
    torch.save({"state_dict": ref_ckpt[0].state_dict(), "extra": obj}, path, pickle_protocol=2)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_ca_checkpoint(create_model("mbv2", "ca"), path)
    text = _one_line(info.value)
    assert "weights_only" in text and "unsafe" in text and str(path) in text
    assert isinstance(info.value, CheckpointFileError) and info.value.exit_code == 2
    assert "must never run" not in capsys.readouterr().out
