"""MobileNetV2 with attention hooks in the inverted residual blocks.

Paper: "MobileNetV2: Inverted Residuals and Linear Bottlenecks", Sandler, Howard, Zhu, Zhmoginov, Chen, CVPR 2018,
https://arxiv.org/abs/1801.04381.
Reference implementation: houqb/CoordAttention ``mbv2_ca.py`` (commit 227af76), the MobileNetV2 the Coordinate
Attention paper trains; its SE variant (``se_mbv2.py``) uses the same block and slot.

Structure (as the reference): stem 3×3 conv stride 2, 32 channels, BN, ReLU6; inverted residual settings (t, c, n, s)
(1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1); head 1×1 conv to 1280, BN, ReLU6,
global average pool, Dropout(0.1), Linear. Channels are ``make_divisible(c · width, 8)``; the head stays at 1280 for
width ≤ 1 (the paper: "we apply width multiplier to all layers except the very last convolutional layer"). The
hidden width of a block is ``round(in · t)``; the residual add is used when stride = 1 and in = out. Width 1.0 with
1000 classes has 3,504,872 parameters and 300.8M conv/linear MACs at 224×224 (the paper says 3.4M / 300M;
PyTorch implementations count 3.50M).

Attention (``attn_layer``) goes into every block with t ≠ 1 (16 of the 17 blocks); the t = 1 block (32→16) gets
none, as in the reference. Positions:

- ``after_dw`` (default, the reference's slot): after dw 3×3 → BN → ReLU6, before the linear 1×1 projection, on the
  hidden (expanded) width.
- ``after_expand``: after the 1×1 expansion → BN → ReLU6, before the depthwise conv, on the hidden width (at the
  input resolution of the block, so before its stride).
- ``block_end``: after the projection's BN, before the residual add, on the block's output width.

Stage attention (``stage_attn_layer``, BAM's hook) goes at the end of the stages whose output is followed by a
downsampling stage, except the stride-2 one: ``stage2`` (24 ch), ``stage3`` (32 ch) and ``stage5`` (96 ch), 3
modules, at output strides 4, 8 and 16 like BAM after ResNet ``layer1``-``layer3`` (the same stages with
``small_input``). The t = 1 stage (16 ch, stride 2) also precedes a downsampling but is left out, as ResNet's
stride-2 stem is in the BAM reference.

Deviations from the reference:
- Layers are named (``features.stem``, ``features.stage{i}.{j}.expand/dw/project``, ``features.head``), not numbered,
  so the reference's state-dict keys do not load directly.
- ``small_input=True`` (32-64 px inputs) sets the stem stride and the first stride-2 stage (24 ch) to stride 1:
  total stride 8 instead of 32 (the usual CIFAR adaptation).
- The weight init (``_helpers.init_weights``) is the reference's and, as there, covers the attention modules' convs,
  BNs and linears too.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .._helpers import AttnLayer, check_position, check_width, conv_bn_act, init_weights, make_attn, make_divisible
from .._registry import BACKBONES
from ._base import Backbone, builder, stage_settings

POSITIONS = ("after_dw", "after_expand", "block_end")
"""Attention slots of :class:`InvertedResidual`; the first is the default."""

WIDTH_RANGE = (0.35, 1.4)
"""Width multipliers the paper covers."""

# t, c, n, s
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STAGE_ATTN_STAGES = ("stage2", "stage3", "stage5")
"""Stages followed by stage attention: the ends of the stride-4, -8 and -16 resolutions."""

_LAST_CHANNELS = 1280


class InvertedResidual(nn.Module):
    """Expand 1×1 → depthwise 3×3 → linear 1×1 projection, with a residual add when shapes allow.

    The attention module is stored as ``attn`` (``nn.Identity`` when there is none) and applied at
    ``attn_position``; see the module docstring for the slots. Blocks with ``expand_ratio == 1`` have no expansion
    and never get attention.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the depthwise conv.
        expand_ratio: t, the hidden width is ``round(in_channels · t)``.
        attn_layer: ``channels -> module`` constructor, or ``None``.
        attn_position: one of ``POSITIONS``.
        dilation: dilation of the depthwise conv (dense prediction at output stride 8 or 16).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        expand_ratio: float,
        attn_layer: AttnLayer = None,
        attn_position: str = "after_dw",
        dilation: int = 1,
    ) -> None:
        super().__init__()
        check_position(attn_position, POSITIONS, "mbv2")
        hidden = round(in_channels * expand_ratio)
        self.use_res = stride == 1 and in_channels == out_channels
        self.attn_position = attn_position
        self.expand = conv_bn_act(in_channels, hidden, 1) if expand_ratio != 1 else nn.Identity()
        self.dw = conv_bn_act(hidden, hidden, 3, stride, groups=hidden, dilation=dilation)
        self.project = conv_bn_act(hidden, out_channels, 1, act=False)
        has_slot = expand_ratio != 1
        attn_channels = out_channels if attn_position == "block_end" else hidden
        self.attn = make_attn(attn_layer if has_slot else None, attn_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(x)
        if self.attn_position == "after_expand":
            out = self.attn(out)
        out = self.dw(out)
        if self.attn_position == "after_dw":
            out = self.attn(out)
        out = self.project(out)
        if self.attn_position == "block_end":
            out = self.attn(out)
        return x + out if self.use_res else out


class MobileNetV2(Backbone):
    """MobileNetV2 as in the Coordinate Attention authors' ``mbv2_ca.py``, with attention hooks.

    Args:
        width: channel width multiplier, within ``WIDTH_RANGE``.
        num_classes: classifier outputs.
        small_input: stem and first stride-2 stage at stride 1 (total stride 8), for 32-64 px inputs.
        attn_layer: in-block attention constructor (``channels -> module``), or ``None``.
        attn_position: in-block slot, one of ``POSITIONS``.
        stage_attn_layer: stage-boundary attention constructor, or ``None``; modules go to ``stage_attn`` under the
            keys ``STAGE_ATTN_STAGES``.
        output_stride: 32, or 16 / 8 for dense prediction (strides turned into dilation, see ``stage_settings``).
        dropout: dropout before the classifier.
    """

    stage_attn_stages = STAGE_ATTN_STAGES

    def __init__(
        self,
        *,
        width: float = 1.0,
        num_classes: int = 1000,
        small_input: bool = False,
        attn_layer: AttnLayer = None,
        attn_position: str = "after_dw",
        stage_attn_layer: AttnLayer = None,
        output_stride: int = 32,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_width(width, WIDTH_RANGE, "mbv2")
        check_position(attn_position, POSITIONS, "mbv2")
        channels = make_divisible(32 * width, 8)
        layers: OrderedDict[str, nn.Module] = OrderedDict(stem=conv_bn_act(3, channels, 3, 1 if small_input else 2))
        self.stage_attn = nn.ModuleDict()
        stages = (
            (i, make_divisible(c * width, 8), n, s, d_first, d_rest, (t,))
            for i, t, c, n, s, d_first, d_rest in stage_settings(SETTINGS, small_input, output_stride)
        )
        channels = self._build_stages(
            layers,
            stages,
            channels,
            lambda j, cin, out, stride, dilation, row: InvertedResidual(
                cin, out, stride, row[0], attn_layer, attn_position, dilation
            ),
            stage_attn_layer,
        )
        last = make_divisible(_LAST_CHANNELS * width, 8) if width > 1.0 else _LAST_CHANNELS
        layers["head"] = conv_bn_act(channels, last, 1)
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        self.num_features = last
        init_weights(self)


mobilenet_v2 = BACKBONES.register(
    "mbv2",
    builder(
        MobileNetV2, "mobilenet_v2", POSITIONS[0], "Build MobileNetV2; see :class:`MobileNetV2` for the arguments."
    ),
    paper="MobileNetV2: Inverted Residuals and Linear Bottlenecks (Sandler et al., CVPR 2018)",
    arxiv="1801.04381",
    reference="houqb/CoordAttention mbv2_ca.py",
    positions=POSITIONS,
    stage_slot="end of the 24-, 32- and 96-channel stages (output strides 4, 8, 16): 3 modules",
    width_range=WIDTH_RANGE,
    min_input=32,
    min_input_small=8,
)


__all__ = ["POSITIONS", "InvertedResidual", "MobileNetV2", "mobilenet_v2"]
