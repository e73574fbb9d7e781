"""MobileNeXt (sandglass blocks) with attention hooks.

Paper: "Rethinking Bottleneck Structure for Efficient Mobile Network Design", Zhou, Hou, Chen, Feng, Yan, ECCV 2020,
https://arxiv.org/abs/2007.02269.
Reference implementation: yitu-opensource/MobileNeXt ``mobilenext/codebase/models/mnext.py`` (commit 10f7805;
byte-identical in zhoudaquan/rethinking_bottleneck_design), the network behind the 74.02 % checkpoint.

Structure, exactly as the reference: stem 3×3 conv stride 2, 32 channels, BN, ReLU6; sandglass (SG) settings
(t, c, n, s) (2,96,1,2) (6,144,1,1) (6,192,3,2) (6,288,3,2) (6,384,4,1) (6,576,4,2) (6,960,3,1) (6,1280,1,1), where t
*reduces* (hidden = ``in // t``) and the 960 stage has n = 3 (the author's correction of arXiv v1, which prints 2);
then global average pool, Dropout(0.2), Linear. There is no head conv: the last SG block outputs 1280 channels, kept
at 1280 for width < 1. Channels are ``make_divisible(c · width, 8)``. Inside a block the hidden width is ``in // t``,
raised to ``make_divisible(ceil(out / 6), 16)`` when it is below ``out / 6``. Width 1.0 with 1000 classes has
3,535,416 parameters and 311.3M conv/linear MACs at 224×224 (published: 3.5M / 300M; simplified re-implementations
without the transition variants below count about 3.31M).

The reference's four block variants (``SGBlock``):

1. t = 2 (the first block, 32→96): dw 3×3 → 1×1 reduce (linear) → 1×1 expand + ReLU6 → dw 3×3 with the stride
   (linear). No shortcut.
2. in ≠ out, stride 1 (first block of the 384 and 960 stages): 1×1 reduce → 1×1 expand + ReLU6 only, no depthwise
   convs. No shortcut.
3. in ≠ out, stride 2 (first block of the 192, 288 and 576 stages): 1×1 reduce → 1×1 expand + ReLU6 → dw 3×3
   stride 2. No shortcut.
4. otherwise: the full sandglass dw → reduce → expand → dw. The shortcut is added unless ``keep_3x3`` (set for the
   first block of a stage with n = 1 and s = 1: the 144 and 1280 stages).

Every SG block gets one attention module (``attn_layer``): 20 blocks, 20 modules. (With SE r = 24 after ``dw1`` this
gives 3.97M parameters and with CA r = 32 4.04M. The CA paper prints 3.89M / 4.09M, which neither slot reproduces
with r in {16, 24, 32} on the official structure; the paper does not say which blocks carry attention.) Positions:

- ``after_dw1`` (default; the Coordinate Attention paper's Fig. 3b and its README tip): after the first dw 3×3 → BN →
  ReLU6, on the block's input width. Variants 2 and 3 have no first depthwise conv, so there the module sits at the
  block input (same width, same place in the order: before the 1×1 reduction).
- ``block_end``: after the last BN, before the shortcut add, on the block's output width.

Stage attention (``stage_attn_layer``, BAM's hook) goes at the end of every stage followed by a downsampling stage:
``stage2`` (144 ch), ``stage3`` (192 ch) and ``stage5`` (384 ch), 3 modules, at output strides 4, 8 and 16 like BAM
after ResNet ``layer1``-``layer3`` (the same stages with ``small_input``). The first downsampling after the stem is
inside the t = 2 block itself, so no stage ends at stride 2.

Deviations from the reference:
- Layers are named (``dw1``, ``reduce``, ``expand``, ``dw2``; ``features.stem``, ``features.stage{i}``), not numbered,
  so the reference's state-dict keys do not load directly.
- The shortcut is ``out + x``; the reference adds in place into a slice of the first ``C // identity_div`` channels
  with ``identity_div = 1``, which is the same sum. The identity tensor multiplier (``identity_div > 1``) is not
  offered.
- The reference's variant 4 hard-codes stride 1 on its last depthwise conv; here it takes the block's stride and
  the shortcut requires stride 1. The reference's configuration never builds a strided variant-4 block for widths in
  ``WIDTH_RANGE``, so nothing changes there.
- ``small_input=True`` (32-64 px inputs) sets the stem and the first SG block to stride 1: total stride 8 instead
  of 32.
- The weight init (``_helpers.init_weights``) is the reference's and, as there, covers the attention modules too.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from .._helpers import AttnLayer, check_position, check_width, conv_bn_act, init_weights, make_attn, make_divisible
from .._registry import BACKBONES
from ._base import Backbone, builder, stage_settings

POSITIONS = ("after_dw1", "block_end")
"""Attention slots of :class:`SGBlock`; the first is the default."""

WIDTH_RANGE = (0.35, 1.4)
"""Width multipliers the paper reports."""

# t, c, n, s
SETTINGS = (
    (2, 96, 1, 2),
    (6, 144, 1, 1),
    (6, 192, 3, 2),
    (6, 288, 3, 2),
    (6, 384, 4, 1),
    (6, 576, 4, 2),
    (6, 960, 3, 1),
    (6, 1280, 1, 1),
)
STAGE_ATTN_STAGES = ("stage2", "stage3", "stage5")
"""Stages followed by stage attention: the ends of the stride-4, -8 and -16 resolutions."""

_LAST_CHANNELS = 1280


class SGBlock(nn.Module):
    """Sandglass block: dw 3×3 → 1×1 reduce → 1×1 expand → dw 3×3, in the reference's four variants.

    Absent convs are ``nn.Identity``. The attention module is stored as ``attn`` and applied at ``attn_position``;
    see the module docstring for the variants and the slots.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the last depthwise conv.
        reduce_ratio: t, the hidden width is ``in_channels // t`` (with the out/6 floor).
        keep_3x3: keep both depthwise convs and drop the shortcut (first block of an n = 1, s = 1 stage).
        attn_layer: ``channels -> module`` constructor, or ``None``.
        attn_position: one of ``POSITIONS``.
        dilation: dilation of both depthwise convs (dense prediction at output stride 8 or 16).
        table_stride: the stride the settings table gives the block, which decides its variant (``stride`` when
            ``None``); a transition block dilated to stride 1 keeps its strided variant's depthwise conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        reduce_ratio: int,
        keep_3x3: bool = False,
        attn_layer: AttnLayer = None,
        attn_position: str = "after_dw1",
        dilation: int = 1,
        table_stride: int | None = None,
    ) -> None:
        super().__init__()
        check_position(attn_position, POSITIONS, "mnext")
        hidden = in_channels // reduce_ratio
        if hidden < out_channels / 6:
            # The reference's floor for the transition blocks ("hidden layer channels" fix, its issue #2).
            hidden = make_divisible(math.ceil(out_channels / 6), 16)
        transition = in_channels != out_channels and not keep_3x3 and reduce_ratio != 2
        has_dw1 = not transition
        has_dw2 = not transition or (stride if table_stride is None else table_stride) != 1
        self.use_res = not transition and not keep_3x3 and reduce_ratio != 2 and stride == 1
        self.attn_position = attn_position
        self.dw1 = (
            conv_bn_act(in_channels, in_channels, 3, groups=in_channels, dilation=dilation)
            if has_dw1
            else nn.Identity()
        )
        self.reduce = conv_bn_act(in_channels, hidden, 1, act=False)
        self.expand = conv_bn_act(hidden, out_channels, 1)
        self.dw2 = (
            conv_bn_act(out_channels, out_channels, 3, stride, groups=out_channels, act=False, dilation=dilation)
            if has_dw2
            else nn.Identity()
        )
        self.attn = make_attn(attn_layer, out_channels if attn_position == "block_end" else in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_split(x)[1]

    def forward_split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The block's output, and the expanded feature before the last depthwise conv (a dense head's tap)."""
        out = self.dw1(x)
        if self.attn_position == "after_dw1":
            out = self.attn(out)
        expanded = self.expand(self.reduce(out))
        out = self.dw2(expanded)
        if self.attn_position == "block_end":
            out = self.attn(out)
        return expanded, (x + out if self.use_res else out)


class MobileNeXt(Backbone):
    """MobileNeXt as in the official ``mnext.py``, with attention hooks.

    Args:
        width: channel width multiplier, within ``WIDTH_RANGE``.
        num_classes: classifier outputs.
        small_input: stem and first SG block at stride 1 (total stride 8), for 32-64 px inputs.
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
        attn_position: str = "after_dw1",
        stage_attn_layer: AttnLayer = None,
        output_stride: int = 32,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        check_width(width, WIDTH_RANGE, "mnext")
        check_position(attn_position, POSITIONS, "mnext")
        channels = make_divisible(32 * width, 8)
        layers: OrderedDict[str, nn.Module] = OrderedDict(stem=conv_bn_act(3, channels, 3, 1 if small_input else 2))
        self.stage_attn = nn.ModuleDict()

        def block(j: int, cin: int, out: int, stride: int, dilation: int, row: tuple[int, int, int]) -> nn.Module:
            t, n, table_stride = row
            if j > 0:
                return SGBlock(cin, out, 1, t, False, attn_layer, attn_position, dilation)
            # keep_3x3 uses the table's stride, so small_input changes strides but never the block variants.
            keep_3x3 = n == 1 and table_stride == 1
            return SGBlock(cin, out, stride, t, keep_3x3, attn_layer, attn_position, dilation, table_stride)

        stages = (
            (
                i,
                _LAST_CHANNELS if c == _LAST_CHANNELS and width < 1.0 else make_divisible(c * width, 8),
                n,
                s,
                d_first,
                d_rest,
                (t, n, SETTINGS[i - 1][3]),
            )
            for i, t, c, n, s, d_first, d_rest in stage_settings(SETTINGS, small_input, output_stride)
        )
        channels = self._build_stages(layers, stages, channels, block, stage_attn_layer)
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))
        self.num_features = channels
        init_weights(self)


mobilenext = BACKBONES.register(
    "mnext",
    builder(MobileNeXt, "mobilenext", POSITIONS[0], "Build MobileNeXt; see :class:`MobileNeXt` for the arguments."),
    paper="Rethinking Bottleneck Structure for Efficient Mobile Network Design (Zhou et al., ECCV 2020)",
    arxiv="2007.02269",
    reference="yitu-opensource/MobileNeXt mobilenext/codebase/models/mnext.py",
    positions=POSITIONS,
    stage_slot="end of the 144-, 192- and 384-channel stages (output strides 4, 8, 16): 3 modules",
    width_range=WIDTH_RANGE,
    min_input=32,
    min_input_small=8,
)


__all__ = ["POSITIONS", "MobileNeXt", "SGBlock", "mobilenext"]
