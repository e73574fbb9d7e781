"""Backbones: pinned parameter counts, output shapes, and where attention modules are inserted."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attnbench.modules as M
from attnbench.modules._helpers import find_attention

BACKBONE_KEYS = ("mbv2", "mnext", "r18", "r50", "mbv3_large", "mbv3_small", "effnet_b0")

# Width 1.0, 1000 classes. mbv2/r18/r50 equal torchvision's counts; mnext is the official mnext.py structure
# (an independent count gives the same 3.535M / 311.3M MACs; attnbench/papers/README.md, "MobileNeXt structure").
# The hosts with their own SE hold it at their slots, so their baseline ('none') is the reference network without its
# SE: torchvision 0.29.1 / timm 1.0.31's totals (5,483,032; 2,542,856; 5,288,548) minus the parameters of their
# SqueezeExcitation modules (1,512,280; 461,640; 636,540), both counted in a separate environment where they import.
BASELINE_PARAMS = {
    "mbv2": 3_504_872,
    "mnext": 3_535_416,
    "r18": 11_689_512,
    "r50": 25_557_032,
    "mbv3_large": 5_483_032 - 1_512_280,
    "mbv3_small": 2_542_856 - 461_640,
    "effnet_b0": 5_288_548 - 636_540,
}

# One in-block module per block that has the slot (the hosts with their own SE: the blocks that carry it).
BLOCK_ATTN_COUNT = {"mbv2": 16, "mnext": 20, "r18": 8, "r50": 16, "mbv3_large": 8, "mbv3_small": 9, "effnet_b0": 16}

STAGE_ATTN_CHANNELS = {
    "mbv2": {"stage2": 24, "stage3": 32, "stage5": 96},
    "mnext": {"stage2": 144, "stage3": 192, "stage5": 384},
    "r18": {"layer1": 64, "layer2": 128, "layer3": 256},
    "r50": {"layer1": 256, "layer2": 512, "layer3": 1024},
    "mbv3_large": {"stage2": 24, "stage3": 40, "stage5": 112},
    "mbv3_small": {"stage1": 16, "stage2": 24, "stage4": 48},
    "effnet_b0": {"stage2": 24, "stage3": 40, "stage5": 112},
}

# Channels each in-block module sees at width 1.0, in forward order.
MBV2_HIDDEN = [96, 144, 144, 192, 192, 192, 384, 384, 384, 384, 576, 576, 576, 960, 960, 960]
MBV2_OUT = [24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320]
MNEXT_IN = [32, 96, 144, 192, 192, 192, 288, 288, 288, 384, 384, 384, 384, 576, 576, 576, 576, 960, 960, 960]
MNEXT_OUT = [96, 144] + [192] * 3 + [288] * 3 + [384] * 4 + [576] * 4 + [960] * 3 + [1280]
ATTN_CHANNELS = {
    ("mbv2", "after_dw"): MBV2_HIDDEN,
    ("mbv2", "after_expand"): MBV2_HIDDEN,
    ("mbv2", "block_end"): MBV2_OUT,
    ("mnext", "after_dw1"): MNEXT_IN,
    ("mnext", "block_end"): MNEXT_OUT,
    ("r18", "before_add"): [64, 64, 128, 128, 256, 256, 512, 512],
    ("r50", "before_add"): [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3,
    # The input channels of the reference's SqueezeExcitation modules, in order (torchvision 0.29.1).
    ("mbv3_large", "after_dw"): [72, 120, 120, 480, 672, 672, 960, 960],
    ("mbv3_small", "after_dw"): [16, 96, 240, 240, 120, 144, 288, 576, 576],
    ("effnet_b0", "after_dw"): [32, 96, 144, 144, 240, 240, 480, 480, 480, 672, 672, 672, 1152, 1152, 1152, 1152],
}


class Gate(nn.Module):
    """Stand-in attention: a per-channel 1×1 conv and a sigmoid gate; it counts its calls and checks its input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv2d(channels, channels, 1, groups=channels)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == self.channels, f"Gate({self.channels}) got {x.shape[1]} channels"
        self.calls += 1
        out = x * torch.sigmoid(self.conv(x))
        assert out.shape == x.shape
        return out


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(key: str, **kwargs: object) -> nn.Module:
    return M.BACKBONES.get(key).fn(**kwargs)


def positions(key: str) -> tuple[str, ...]:
    return M.BACKBONES.get(key).meta["positions"]


def gates(model: nn.Module) -> list[Gate]:
    return [m for m in model.modules() if isinstance(m, Gate)]


@pytest.mark.parametrize("key", BACKBONE_KEYS)
def test_baseline_param_count(key: str) -> None:
    assert n_params(build(key)) == BASELINE_PARAMS[key]
    assert n_params(M.create_model(key, "none")) == BASELINE_PARAMS[key]


@pytest.mark.parametrize("key", BACKBONE_KEYS)
def test_baseline_has_no_attention(key: str) -> None:
    model = build(key, width=0.5, num_classes=10)
    assert find_attention(model) == []
    assert len(model.stage_attn) == 0


@pytest.mark.parametrize("width", [1.0, 0.5])
@pytest.mark.parametrize("key", BACKBONE_KEYS)
def test_forward_shapes(key: str, width: float) -> None:
    model = build(key, width=width, num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 48)).shape == (2, 10)
        assert model(torch.randn(1, 3, 37, 53)).shape == (1, 10)  # odd, H != W
    small = build(key, width=width, num_classes=10, small_input=True).eval()
    with torch.no_grad():
        assert small(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert small.forward_features(torch.randn(1, 3, 32, 32)).shape[-2:] == (4, 4)  # total stride 8
        assert model.forward_features(torch.randn(1, 3, 64, 64)).shape[-2:] == (2, 2)  # total stride 32


@pytest.mark.parametrize("key", BACKBONE_KEYS)
def test_metadata_and_min_input(key: str) -> None:
    meta = M.BACKBONES.get(key).meta
    fields = ("paper", "arxiv", "reference", "positions", "stage_slot", "width_range", "min_input", "min_input_small")
    for field in fields:
        assert meta.get(field), field
    lo = meta["width_range"][0]
    for small, size in ((False, meta["min_input"]), (True, meta["min_input_small"])):
        model = build(key, width=lo, num_classes=3, small_input=small).eval()
        with torch.no_grad():
            assert model.forward_features(torch.randn(1, 3, size, size)).shape[-2:] == (1, 1)


@pytest.mark.parametrize(("key", "position"), list(ATTN_CHANNELS))
def test_block_attention_inserted_and_run(key: str, position: str) -> None:
    model = build(key, num_classes=10, attn_layer=Gate, attn_position=position).eval()
    inserted = gates(model)
    assert len(inserted) == BLOCK_ATTN_COUNT[key]
    assert [g.channels for g in inserted] == ATTN_CHANNELS[(key, position)]
    found = find_attention(model)
    assert [m for _, m in found] == inserted
    assert all(name.endswith(".attn") for name, _ in found)
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 48))
    assert [g.calls for g in inserted] == [1] * len(inserted)


@pytest.mark.parametrize("key", BACKBONE_KEYS)
def test_every_position_covered(key: str) -> None:
    assert {p for k, p in ATTN_CHANNELS if k == key} == set(positions(key))


def test_mbv2_t1_block_has_no_attention() -> None:
    model = build("mbv2", attn_layer=Gate)
    assert isinstance(model.features.stage1[0].attn, nn.Identity)


def test_mnext_after_dw1_at_input_of_blocks_without_first_dw() -> None:
    model = build("mnext", attn_layer=Gate)
    no_dw1 = [name for name, m in model.named_modules() if name.endswith("dw1") and isinstance(m, nn.Identity)]
    # Variant 3: first blocks of the 192, 288, 576 stages; variant 2: first blocks of the 384 and 960 stages.
    assert no_dw1 == [f"features.stage{i}.0.dw1" for i in (3, 4, 5, 6, 7)]


@pytest.mark.parametrize("key", BACKBONE_KEYS)
def test_stage_attention(key: str) -> None:
    model = build(key, num_classes=10, stage_attn_layer=Gate).eval()
    expected = STAGE_ATTN_CHANNELS[key]
    assert {k: g.channels for k, g in model.stage_attn.items()} == expected
    assert gates(model) == list(model.stage_attn.values())
    assert [name for name, _ in find_attention(model)] == [f"stage_attn.{k}" for k in expected]
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 48))
    assert [g.calls for g in model.stage_attn.values()] == [1, 1, 1]


@pytest.mark.parametrize("key", BACKBONE_KEYS)
def test_block_and_stage_attention_together_train_backward(key: str) -> None:
    model = build(key, width=0.5, num_classes=10, small_input=True, attn_layer=Gate, stage_attn_layer=Gate)
    assert len(find_attention(model)) == BLOCK_ATTN_COUNT[key] + 3
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(g.conv.weight.grad is not None for g in gates(model))


@pytest.mark.parametrize("key", BACKBONE_KEYS)
def test_unknown_position_raises(key: str) -> None:
    with pytest.raises(ValueError, match=positions(key)[0]):
        build(key, attn_layer=Gate, attn_position="nowhere")
    with pytest.raises(ValueError, match="nowhere"):
        M.create_model(key, "se", position="nowhere")


@pytest.mark.parametrize("key", BACKBONE_KEYS)
def test_width_out_of_range_raises(key: str) -> None:
    lo, hi = M.BACKBONES.get(key).meta["width_range"]
    for width in (lo - 0.05, hi + 0.1):
        with pytest.raises(ValueError, match="width"):
            build(key, width=width)


def test_create_model_default_positions() -> None:
    assert len(find_attention(M.create_model("mbv2", "se", width=0.5, num_classes=10))) == 16
    assert len(find_attention(M.create_model("mnext", "ca", width=0.5, num_classes=10))) == 20
    assert [n for n, _ in find_attention(M.create_model("r18", "bam", width=0.5, num_classes=10))] == [
        "stage_attn.layer1",
        "stage_attn.layer2",
        "stage_attn.layer3",
    ]


def test_mbv2_published_attention_param_counts() -> None:
    # CA paper Table 2: MobileNetV2 + SE 3.89M (r = 24), + CA 3.95M (r = 32); attnbench/papers/published.csv.
    assert n_params(M.create_model("mbv2", "se", attn_kwargs={"reduction": 24})) == 3_888_208
    assert n_params(M.create_model("mbv2", "ca", attn_kwargs={"reduction": 32})) == 3_950_648
