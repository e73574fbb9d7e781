"""DeepLabV3 on MobileNetV2 and MobileNeXt, as the MobileNetV2 paper builds it for semantic segmentation.

Papers: "Rethinking Atrous Convolution for Semantic Image Segmentation" (DeepLabV3), Chen, Papandreou, Schroff,
Adam, arXiv 2017, https://arxiv.org/abs/1706.05587; its mobile form in "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", Sandler et al., CVPR 2018, https://arxiv.org/abs/1801.04381 (§6.3, Table 7).
Reference implementation: none with MobileNetV2 from the Coordinate Attention authors (their README points to a
segmentation repository without MobileNetV2 code), so every choice is written here with its source:

- Backbone: the classification network without its pooling and classifier, and for MobileNetV2 also without the
  1×1 conv to 1280 channels: the MobileNetV2 paper builds the DeepLabV3 head on the last 320-channel feature map and
  reports that the 1280-channel "second to last" map costs far more MAdds for no better mIoU (§6.3, Table 7).
  MobileNeXt has no such conv; its last block's 1280 channels feed the head.
- Output stride 16 or 8 (``output_stride``): the stride-2 stages beyond it run at stride 1 and dilate the
  depthwise convs after them (``backbones._base.stage_settings``; DeepLabV3 §3.1). Both strides appear in the
  Coordinate Attention paper's Table 8; Table 9 uses 8.
- ASPP (DeepLabV3 §3.3) on the last feature map, 256 channels per branch (the MobileNetV2 paper's "ASPP ... with
  256 filters"): a 1×1 conv, three 3×3 atrous convs with rates 6, 12, 18 at output stride 16 and 12, 24, 36 at 8
  ("the rates are doubled when output_stride = 8"), and image pooling (global average pool → 1×1 conv → bilinear
  upsampling back to the map); each conv without bias, followed by BatchNorm and ReLU. The five branches are
  concatenated and projected by a 1×1 conv to 256 channels with BatchNorm and ReLU (§3.3), then Dropout(0.1)
  (identity at inference).
- Classifier: a 1×1 conv with bias to the classes (21 for PASCAL VOC 2012, 19 for Cityscapes), its logits upsampled
  bilinearly (``align_corners=False``) to the input size, so the output is the logits map
  (batch, classes, height, width), as DeepLabV3 evaluates at full resolution.
- Attention: only in the backbone's slots (the head has no blocks); ``slots`` is always ``backbone``.

Parameters of MobileNetV2-1.0 with 21 classes: 4,523,541 (the Coordinate Attention paper prints 4.5M); with SE
(r = 24) 4,906,877 (4.9M), CBAM (r = 24) 4,908,477 (4.9M), CA (r = 32) 4,969,317 (5.0M). A DeepLabV3 head with
torchvision's extra 3×3 conv before the classifier would add 590,336 and miss the published 4.5M.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .._registry import HEADS
from ..backbones._base import Backbone
from ._features import DenseModel, run_taps, strip_classifier, tap_channels

RATES = {16: (6, 12, 18), 8: (12, 24, 36)}
"""ASPP atrous rates per output stride (DeepLabV3 §3.3)."""


def conv_bn_relu(cin: int, cout: int, k: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=dilation * (k - 1) // 2, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1×1, three atrous 3×3 and image pooling, concatenated and projected."""

    def __init__(self, in_channels: int, channels: int, rates: tuple[int, ...], dropout: float = 0.1) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [conv_bn_relu(in_channels, channels), *(conv_bn_relu(in_channels, channels, 3, r) for r in rates)]
        )
        self.pool = conv_bn_relu(in_channels, channels)
        self.project = nn.Sequential(conv_bn_relu((len(rates) + 2) * channels, channels), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x.mean((2, 3), keepdim=True))
        pooled = F.interpolate(pooled, size=x.shape[2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([*(b(x) for b in self.branches), pooled], 1))


class DeepLabV3(DenseModel):
    """DeepLabV3 with ASPP on a MobileNet backbone; see the module docstring.

    Args:
        backbone: the classification network, built at ``output_stride``.
        backbone_key: ``mbv2`` or ``mnext``.
        num_classes: segmentation classes.
        output_stride: 16 or 8 (sets the ASPP rates; the backbone must have been built at it).
        channels: ASPP width.
    """

    def __init__(
        self,
        backbone: Backbone,
        backbone_key: str,
        *,
        num_classes: int = 21,
        output_stride: int = 16,
        channels: int = 256,
        slots: str = "backbone",
        **_: object,
    ) -> None:
        super().__init__()
        if output_stride not in RATES:
            raise ValueError(f"DeepLabV3 takes output stride {' or '.join(map(str, RATES))}, got {output_stride}")
        if slots != "backbone":
            raise ValueError(f"DeepLabV3 has attention in the backbone only (slots 'backbone'), got '{slots}'")
        self.backbone = strip_classifier(backbone, drop_head_conv=True)
        self.num_classes, self.output_stride, self.slots = num_classes, output_stride, slots
        self.aspp = ASPP(tap_channels(self.backbone, ())[""], channels, RATES[output_stride])
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, _ = run_taps(self.backbone, x, ())
        logits = self.classifier(self.aspp(features))
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (input_shape[0], self.num_classes, *input_shape[2:])


HEADS.register(
    "deeplabv3",
    DeepLabV3,
    paper="Rethinking Atrous Convolution for Semantic Image Segmentation (Chen et al., 2017), mobile form of "
    "MobileNetV2 (Sandler et al., CVPR 2018)",
    arxiv="1706.05587",
    reference="none with MobileNetV2 (choices in modules/heads/deeplabv3.py)",
    task="segmentation",
    variant="ASPP 256, image pooling, 1×1 classifier; 21 classes (VOC), 19 for Cityscapes",
    num_classes=21,
    backbones=("mbv2", "mnext"),
    output_strides=(16, 8),
    slots=("backbone",),
)

__all__ = ["ASPP", "DeepLabV3"]
