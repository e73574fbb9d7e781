"""SSDLite320: the single-shot detector with separable prediction convs, on MobileNetV2 and MobileNeXt.

Paper: SSDLite is defined in "MobileNetV2: Inverted Residuals and Linear Bottlenecks", Sandler et al., CVPR 2018,
https://arxiv.org/abs/1801.04381 (§6.2), on SSD (Liu et al., ECCV 2016, https://arxiv.org/abs/1512.02325).
Reference implementation: Andrew-Qibin/ssdlite-pytorch-mobilenext (commit 6219e33), the detection code of the
MobileNeXt paper and of the Coordinate Attention paper's Tables 6-7: ``configs/mobilenet_v2_ssd320_*.yaml``,
``configs/mobilenext_ssd320_*.yaml``, ``ssd/modeling/backbone/{mobilenet,mobilenext,se_mbv2}.py``,
``ssd/modeling/box_head/box_predictor.py`` (``SSDLiteBoxPredictor``), ``ssd/layers/separable_conv.py``.

Structure, as the reference:

- Feature taps. MobileNetV2: the output of the 96-channel stage (stride 16) and of the 1×1 head conv (1280
  channels, stride 32). MobileNeXt: inside the first block of the 576-channel stage, after its 1×1 expansion and
  before its stride-2 depthwise conv (576 channels, stride 16), and inside the 1280-channel block, after its 1×1
  expansion and before its last depthwise conv (1280 channels, stride 32); that block's output goes on to the
  extra blocks.
- Four extra blocks, each stride 2, output channels 512, 256, 256 and 64 (MobileNeXt: 128). MobileNetV2: inverted
  residuals (1×1 expansion, 3×3 depthwise, linear 1×1) with expansion ratios 0.2, 0.5, 0.5, 0.5 of ``mobilenet.py``
  (the backbone the configs name). MobileNeXt: ``sg_block_extra`` (3×3 depthwise with the stride + BN + ReLU6,
  linear 1×1 to ``int(in · ratio)``, 1×1 + BN + ReLU6) with ratios 0.2, 0.25, 0.5, 0.5.
- The SSDLite predictor on the six feature maps: per map a box-class and a box-offset branch, each a separable conv
  (3×3 depthwise with bias → BN → ReLU6 → 1×1 with bias), on the last (1×1) map a plain 1×1 conv with bias.
- Boxes per location: the COCO configs' 6, 6, 6, 6, 6, 4 with 81 classes (``ssdlite``), the VOC configs' six 6s
  with 21 classes (``ssdlite_voc``); at 320×320 that is 3,232 and 3,234 boxes.

Attention. The backbone carries it in its own slots. The reference's SE backbone (``se_mbv2.py``) also puts SE in
the extra blocks (it builds them from its SE inverted residual), so by default (``slots="backbone+extras"``) every
block-hooked module goes into the extra blocks too, at the backbone's slot: after the depthwise conv (MobileNetV2
``after_dw``, MobileNeXt ``after_dw1``, at the block's input width there), or at the block's end. ``slots="backbone"``
leaves the extras plain. Stage modules (BAM) stay at the backbone's stage boundaries.

Parameters, checked in the tests against builds of the reference code: MobileNetV2 COCO 4,304,138 (published
4.3M), VOC 3,425,988; MobileNeXt COCO 4,539,418, VOC 3,476,308.

Deviations from the reference:
- The output is one tensor, (batch, boxes, classes + 4): the class logits and the box offsets of the reference
  predictor (its ``cls_logits`` and ``bbox_pred``, in its order of maps, positions and boxes), concatenated on the
  last axis, so every runtime exports and checks one output. Anchor generation, box decoding and NMS are
  post-processing outside the network and are not built.
- ``se_mbv2.py`` (which the reference repository does not register as a backbone) builds its extras with expansion
  ratios 0.2, 0.25, 0.5, 0.25 instead of ``mobilenet.py``'s: 4,574,728 parameters with SE, where the Coordinate
  Attention paper prints 4.7M. Here every module shares ``mobilenet.py``'s extras, so a Δ is the attention alone
  (4,701,072 with SE, r = 24); ``extra_ratios`` rebuilds the other form.
- Weight init: the backbone's; the predictor's convs Xavier-uniform with zero bias as the reference (its focal-loss
  prior on the COCO class bias is not set: training a detector is out of scope).
"""

from __future__ import annotations

import torch
from torch import nn

from .._helpers import AttnLayer, conv_bn_act, make_attn
from .._registry import HEADS
from ..backbones._base import Backbone
from ..backbones.mobilenetv2 import InvertedResidual
from ._features import DenseModel, run_taps, strip_classifier, tap_channels

TAPS = {"mbv2": ("stage5", "head"), "mnext": ("stage6.expand", "stage8.expand")}
EXTRAS = {
    "mbv2": ((512, 0.2), (256, 0.5), (256, 0.5), (64, 0.5)),
    "mnext": ((512, 0.2), (256, 0.25), (256, 0.5), (128, 0.5)),
}
"""Output channels and expansion ratio of the four extra blocks, per backbone."""
COCO_BOXES = (6, 6, 6, 6, 6, 4)
VOC_BOXES = (6, 6, 6, 6, 6, 6)
SLOTS = ("backbone+extras", "backbone")


class SGExtra(nn.Module):
    """MobileNeXt's extra block: dw 3×3 (stride 2) → linear 1×1 reduce → 1×1 expand + ReLU6, with an attention slot.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        ratio: the hidden width is ``int(in_channels · ratio)``.
        attn_layer: ``channels -> module`` constructor, or ``None``.
        attn_position: ``after_dw1`` (after the depthwise conv, input width) or ``block_end``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ratio: float,
        attn_layer: AttnLayer = None,
        attn_position: str = "after_dw1",
    ) -> None:
        super().__init__()
        hidden = int(in_channels * ratio)
        self.attn_position = attn_position
        self.dw1 = conv_bn_act(in_channels, in_channels, 3, 2, groups=in_channels)
        self.reduce = conv_bn_act(in_channels, hidden, 1, act=False)
        self.expand = conv_bn_act(hidden, out_channels, 1)
        self.attn = make_attn(attn_layer, out_channels if attn_position == "block_end" else in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dw1(x)
        if self.attn_position == "after_dw1":
            out = self.attn(out)
        out = self.expand(self.reduce(out))
        return self.attn(out) if self.attn_position == "block_end" else out


def separable(in_channels: int, out_channels: int) -> nn.Sequential:
    """The SSDLite prediction conv: dw 3×3 (bias) → BN → ReLU6 → 1×1 (bias)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels),
        nn.BatchNorm2d(in_channels),
        nn.ReLU6(),
        nn.Conv2d(in_channels, out_channels, 1),
    )


class SSDLite(DenseModel):
    """SSDLite320 on a MobileNet backbone; see the module docstring.

    Args:
        backbone: the classification network (its pooling and classifier are removed).
        backbone_key: ``mbv2`` or ``mnext``, which sets the taps and the extra blocks.
        num_classes: classes including background.
        boxes: boxes per location on each of the six maps.
        attn_layer: the attention constructor for the extra blocks (``None``: none).
        attn_position: the backbone's in-block slot, used in the extra blocks too.
        slots: ``backbone+extras`` or ``backbone`` (see ``SLOTS``).
        extra_ratios: the extra blocks' expansion ratios, when not the reference's for this backbone.
    """

    def __init__(
        self,
        backbone: Backbone,
        backbone_key: str,
        *,
        num_classes: int = 81,
        boxes: tuple[int, ...] = COCO_BOXES,
        attn_layer: AttnLayer = None,
        attn_position: str | None = None,
        slots: str = SLOTS[0],
        extra_ratios: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__()
        if backbone_key not in TAPS:
            raise ValueError(f"SSDLite takes the backbones {', '.join(TAPS)}, not '{backbone_key}'")
        if slots not in SLOTS:
            raise ValueError(f"SSDLite slots must be one of {', '.join(SLOTS)}, got '{slots}'")
        if len(boxes) != 6:
            raise ValueError(f"SSDLite predicts on six maps; got {len(boxes)} boxes-per-location values")
        self.backbone = strip_classifier(backbone)
        self.taps = TAPS[backbone_key]
        self.num_classes, self.boxes, self.slots = num_classes, tuple(boxes), slots
        channels = tap_channels(self.backbone, self.taps)
        extra_layer = attn_layer if slots == "backbone+extras" else None
        specs = EXTRAS[backbone_key]
        ratios = extra_ratios or tuple(r for _, r in specs)
        cin, maps = channels[""], [channels[t] for t in self.taps]
        extras: list[nn.Module] = []
        for (cout, _), ratio in zip(specs, ratios):
            if backbone_key == "mbv2":
                extras.append(InvertedResidual(cin, cout, 2, ratio, extra_layer, attn_position or "after_dw"))
            else:
                extras.append(SGExtra(cin, cout, ratio, extra_layer, attn_position or "after_dw1"))
            cin = cout
            maps.append(cout)
        self.extras = nn.ModuleList(extras)
        last = len(maps) - 1
        self.cls_heads = nn.ModuleList(
            nn.Conv2d(c, b * num_classes, 1) if i == last else separable(c, b * num_classes)
            for i, (c, b) in enumerate(zip(maps, self.boxes))
        )
        self.reg_heads = nn.ModuleList(
            nn.Conv2d(c, b * 4, 1) if i == last else separable(c, b * 4)
            for i, (c, b) in enumerate(zip(maps, self.boxes))
        )
        for head in (*self.cls_heads, *self.reg_heads):
            for m in head.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The six feature maps the predictor reads."""
        x, found = run_taps(self.backbone, x, self.taps)
        maps = [found[t] for t in self.taps]
        for block in self.extras:
            x = block(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(x)
        n = x.shape[0]
        cls = [h(f).permute(0, 2, 3, 1).reshape(n, -1) for f, h in zip(maps, self.cls_heads)]
        reg = [h(f).permute(0, 2, 3, 1).reshape(n, -1) for f, h in zip(maps, self.reg_heads)]
        logits = torch.cat(cls, 1).view(n, -1, self.num_classes)
        offsets = torch.cat(reg, 1).view(n, -1, 4)
        return torch.cat((logits, offsets), 2)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        h, w = input_shape[2:]
        sizes = [(-(-h // 16), -(-w // 16)), (-(-h // 32), -(-w // 32))]
        for _ in self.extras:
            sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
        anchors = sum(a * b * k for (a, b), k in zip(sizes, self.boxes))
        return (input_shape[0], anchors, self.num_classes + 4)

    def predicted_classes(self, out: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """The class of every box (its largest class logit; the box offsets are left out)."""
        return out[..., : self.num_classes].argmax(-1)


_META = {
    "paper": "SSDLite (Sandler et al., MobileNetV2, CVPR 2018; on SSD, Liu et al., ECCV 2016)",
    "arxiv": "1801.04381",
    "reference": "Andrew-Qibin/ssdlite-pytorch-mobilenext",
    "task": "detection",
    "backbones": tuple(TAPS),
    "output_strides": (32,),
    "slots": SLOTS,
}
HEADS.register(
    "ssdlite",
    lambda backbone, key, **kw: SSDLite(backbone, key, boxes=COCO_BOXES, **kw),
    variant="COCO config: 81 classes, boxes per location 6,6,6,6,6,4",
    num_classes=81,
    **_META,
)
HEADS.register(
    "ssdlite_voc",
    lambda backbone, key, **kw: SSDLite(backbone, key, boxes=VOC_BOXES, **kw),
    variant="VOC config: 21 classes, boxes per location 6,6,6,6,6,6",
    num_classes=21,
    **_META,
)

__all__ = ["SGExtra", "SSDLite"]
