"""ResNet-18 and ResNet-50 with attention hooks (the SE-ResNet / CBAM / BAM placement).

Paper: "Deep Residual Learning for Image Recognition", He, Zhang, Ren, Sun, CVPR 2016, https://arxiv.org/abs/1512.03385.
Reference implementation: torchvision ``models/resnet.py`` (layout, layer names and init). The attention placement
follows Jongchan/attention-module ``MODELS/model_resnet.py`` (CBAM in every block, BAM after ``layer1``-``layer3``)
and hujie-frank/SENet (SE on the residual branch before the identity add).

Layout: 7×7 stride-2 stem conv (64), BN, ReLU, 3×3 stride-2 max pool, four stages of BasicBlocks [2, 2, 2, 2]
(ResNet-18) or Bottlenecks [3, 4, 6, 3] (ResNet-50) with 64/128/256/512 base widths, global average pool, Linear.
The bottleneck carries its stride on the 3×3 conv (torchvision's "v1.5"; the paper's v1 strides the first 1×1). The
projection shortcut is 1×1 conv + BN where the shape changes. Width 1.0 with 1000 classes gives torchvision's counts:
11,689,512 (ResNet-18) and 25,557,032 (ResNet-50), and the baseline state-dict keys are torchvision's.

Attention (``attn_layer``), one module per block (8 in ResNet-18, 16 in ResNet-50), position ``before_add``: on the
residual branch's output after its last BN, before the identity add, on the block's output width. Stage attention
(``stage_attn_layer``, BAM's hook): after ``layer1``, ``layer2`` and ``layer3`` (3 modules; 256/512/1024 channels in
ResNet-50, 64/128/256 in ResNet-18), none after ``layer4``, as in the BAM reference.

Deviations from the reference:
- ``width`` scales every stage: base widths become ``make_divisible(c · width, 8)`` (stem included), and a
  bottleneck's output stays 4× its base width.
- ``small_input=True`` (32-64 px inputs): a 3×3 stride-1 stem conv and no max pool, total stride 8 instead of 32 (the
  usual CIFAR adaptation).
- Init is torchvision's with ``zero_init_residual=False`` (Kaiming-normal fan-out convs, BN 1/0, default Linear). As
  in torchvision and the attention references it also covers the attention modules' convs and BNs (the CBAM
  reference then zeroes its spatial-gate BN weight; here that BN starts at 1 like every other, and any custom init
  an attention module does in its constructor is overwritten).
- The stride sits on the 3×3 (v1.5, torchvision's layout): the 3.86 G multiply-accumulates published
  for (SE/CBAM/BAM-)ResNet-50 are v1's; this layout has 4.09 G at 224×224, with identical parameter counts.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from .._helpers import AttnLayer, check_position, check_width, make_attn, make_divisible
from .._registry import BACKBONES
from ._base import Backbone, builder

POSITIONS = ("before_add",)
"""Attention slots of the residual blocks; the first is the default."""

WIDTH_RANGE = (0.25, 2.0)
"""Width multipliers accepted (not from the paper, which has none)."""

STAGE_ATTN_STAGES = ("layer1", "layer2", "layer3")
"""Stages followed by stage attention."""

_BASE_WIDTHS = (64, 128, 256, 512)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convs with a shortcut (ResNet-18/34).

    Args:
        in_channels: input channels.
        planes: base width; the output has ``planes`` channels.
        stride: stride of the first 3×3 conv.
        downsample: projection shortcut, or ``None`` for the identity.
        attn_layer: ``channels -> module`` constructor, or ``None``; stored as ``attn``, applied before the add.
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        attn_layer: AttnLayer = None,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.attn = make_attn(attn_layer, planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attn(self.bn2(self.conv2(out)))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (with the stride) → 1×1 expand ×4, with a shortcut (ResNet-50 v1.5).

    Args:
        in_channels: input channels.
        planes: base width; the output has ``4 · planes`` channels.
        stride: stride of the 3×3 conv.
        downsample: projection shortcut, or ``None`` for the identity.
        attn_layer: ``channels -> module`` constructor, or ``None``; stored as ``attn``, applied before the add.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        attn_layer: AttnLayer = None,
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = _conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.attn = make_attn(attn_layer, out_channels)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attn(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


Block = type[BasicBlock] | type[Bottleneck]


class ResNet(Backbone):
    """torchvision-layout ResNet with attention hooks.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: blocks per stage.
        width: channel width multiplier, within ``WIDTH_RANGE``.
        num_classes: classifier outputs.
        small_input: 3×3 stride-1 stem and no max pool (total stride 8), for 32-64 px inputs.
        attn_layer: in-block attention constructor (``channels -> module``), or ``None``.
        attn_position: in-block slot, one of ``POSITIONS``.
        stage_attn_layer: stage-boundary attention constructor, or ``None``; modules go to ``stage_attn`` under the
            keys ``STAGE_ATTN_STAGES``.
        output_stride: 32 only (a dilated ResNet is not offered).
        name: the backbone key, for error messages.
    """

    stage_attn_stages = STAGE_ATTN_STAGES

    def __init__(
        self,
        block: Block,
        layers: tuple[int, int, int, int],
        *,
        width: float = 1.0,
        num_classes: int = 1000,
        small_input: bool = False,
        attn_layer: AttnLayer = None,
        attn_position: str = "before_add",
        stage_attn_layer: AttnLayer = None,
        output_stride: int = 32,
        name: str = "resnet",
    ) -> None:
        super().__init__()
        check_width(width, WIDTH_RANGE, name)
        if output_stride != 32:
            raise ValueError(f"{name} is built at output stride 32 only (the dense heads take mbv2 and mnext)")
        check_position(attn_position, POSITIONS, name)
        widths = [make_divisible(c * width, 8) for c in _BASE_WIDTHS]
        self.in_channels = widths[0]
        if small_input:
            self.conv1 = nn.Conv2d(3, self.in_channels, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, self.in_channels, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, widths[0], layers[0], 1, attn_layer)
        self.layer2 = self._make_layer(block, widths[1], layers[1], 2, attn_layer)
        self.layer3 = self._make_layer(block, widths[2], layers[2], 2, attn_layer)
        self.layer4 = self._make_layer(block, widths[3], layers[3], 2, attn_layer)
        self.stage_attn = nn.ModuleDict()
        for key, planes in zip(STAGE_ATTN_STAGES, widths):
            self._add_stage_attn(key, planes * block.expansion, stage_attn_layer)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = widths[3] * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int, attn_layer: AttnLayer) -> nn.Sequential:
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or self.in_channels != out_channels:
            downsample = nn.Sequential(_conv1x1(self.in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
        layers = [block(self.in_channels, planes, stride, downsample, attn_layer)]
        self.in_channels = out_channels
        layers += [block(out_channels, planes, attn_layer=attn_layer) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _stages(self) -> Iterator[tuple[str, nn.Module]]:
        for key in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            yield key, getattr(self, key)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(x), 1))


_META = {
    "arxiv": "1512.03385",
    "reference": "torchvision models/resnet.py (v1.5); placement as Jongchan/attention-module MODELS/model_resnet.py",
    "positions": POSITIONS,
    "stage_slot": "after layer1, layer2 and layer3: 3 modules",
    "width_range": WIDTH_RANGE,
    "min_input": 32,
    "min_input_small": 8,
}


resnet18 = BACKBONES.register(
    "r18",
    builder(
        ResNet,
        "resnet18",
        POSITIONS[0],
        "Build ResNet-18 (BasicBlock, [2, 2, 2, 2]); see :class:`ResNet` for the arguments.",
        BasicBlock,
        (2, 2, 2, 2),
        name="r18",
    ),
    paper="Deep Residual Learning for Image Recognition (He et al., CVPR 2016), ResNet-18",
    **_META,
)
resnet50 = BACKBONES.register(
    "r50",
    builder(
        ResNet,
        "resnet50",
        POSITIONS[0],
        "Build ResNet-50 (Bottleneck v1.5, [3, 4, 6, 3]); see :class:`ResNet` for the arguments.",
        Bottleneck,
        (3, 4, 6, 3),
        name="r50",
    ),
    paper="Deep Residual Learning for Image Recognition (He et al., CVPR 2016), ResNet-50",
    **_META,
)


__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50"]
