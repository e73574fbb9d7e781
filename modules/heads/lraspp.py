"""LR-ASPP, the lite segmentation head of MobileNetV3, on MobileNetV2 and MobileNeXt.

Paper: "Searching for MobileNetV3", Howard et al., ICCV 2019, https://arxiv.org/abs/1905.02244 (§6.4, Figure 10).
Reference implementation: torchvision ``models/segmentation/lraspp.py`` (``LRASPPHead``), the form mobile users
ship; its MobileNetV3 backbone is replaced here by the attnbench MobileNets.

Structure:
- High-level features: the backbone's last map at output stride 16 (the last stride-2 stage dilated, as the paper
  "applies atrous convolution to the last block"), for MobileNetV2 the 320-channel stage without the 1280-channel
  head conv (as this project's DeepLabV3, following the MobileNetV2 paper's segmentation model), for MobileNeXt
  its 1280-channel last block. Output stride 8 is offered too.
- Two branches on it: 1×1 conv to 128 channels (no bias) → BN → ReLU; and global average pooling → 1×1 conv to
  128 (no bias) → sigmoid, a per-channel gate multiplied into the first branch.
- The gated map is upsampled bilinearly to the low-level map (the output of the last stride-8 stage: MobileNetV2's
  32-channel, MobileNeXt's 192-channel stage), and the sum of two 1×1 classifiers with bias (one on the low-level
  map, one on the gated map) is upsampled bilinearly to the input size: the logits map (batch, classes, h, w).
- Attention: only in the backbone's slots; ``slots`` is always ``backbone``.

Deviations from the paper: the gate pools globally (as torchvision) instead of the paper's 49×49 average pool with
stride (16, 20), a kernel sized for 1024×2048 Cityscapes images that does not fit smaller inputs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .._registry import HEADS
from ..backbones._base import Backbone
from ._features import DenseModel, run_taps, strip_classifier, tap_channels

LOW = {"mbv2": "stage3", "mnext": "stage3"}
"""The last stride-8 stage of each backbone: the low-level features."""


class LRASPP(DenseModel):
    """LR-ASPP on a MobileNet backbone; see the module docstring.

    Args:
        backbone: the classification network, built at ``output_stride``.
        backbone_key: ``mbv2`` or ``mnext``.
        num_classes: segmentation classes.
        output_stride: 16 (the paper's) or 8.
        channels: width of the gated branch (128 as the paper).
    """

    def __init__(
        self,
        backbone: Backbone,
        backbone_key: str,
        *,
        num_classes: int = 21,
        output_stride: int = 16,
        channels: int = 128,
        slots: str = "backbone",
        **_: object,
    ) -> None:
        super().__init__()
        if backbone_key not in LOW:
            raise ValueError(f"LR-ASPP takes the backbones {', '.join(LOW)}, not '{backbone_key}'")
        if slots != "backbone":
            raise ValueError(f"LR-ASPP has attention in the backbone only (slots 'backbone'), got '{slots}'")
        self.backbone = strip_classifier(backbone, drop_head_conv=True)
        self.num_classes, self.output_stride, self.slots = num_classes, output_stride, slots
        self.low = LOW[backbone_key]
        found = tap_channels(self.backbone, (self.low,))
        high, low = found[""], found[self.low]
        self.cbr = nn.Sequential(nn.Conv2d(high, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        self.scale = nn.Sequential(nn.Conv2d(high, channels, 1, bias=False), nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low, num_classes, 1)
        self.high_classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        high, found = run_taps(self.backbone, x, (self.low,))
        low = found[self.low]
        gated = self.cbr(high) * self.scale(high.mean((2, 3), keepdim=True))
        gated = F.interpolate(gated, size=low.shape[2:], mode="bilinear", align_corners=False)
        logits = self.low_classifier(low) + self.high_classifier(gated)
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (input_shape[0], self.num_classes, *input_shape[2:])


HEADS.register(
    "lraspp",
    LRASPP,
    paper="Searching for MobileNetV3 (Howard et al., ICCV 2019): LR-ASPP",
    arxiv="1905.02244",
    reference="torchvision models/segmentation/lraspp.py",
    task="segmentation",
    variant="128-channel gated branch, low-level skip from output stride 8; 21 classes",
    num_classes=21,
    backbones=("mbv2", "mnext"),
    output_strides=(16, 8),
    slots=("backbone",),
)

__all__ = ["LRASPP"]
