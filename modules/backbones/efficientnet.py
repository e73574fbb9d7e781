"""EfficientNet-B0, with its own squeeze-and-excitation at the attention slot.

Paper: "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", Tan, Le, ICML 2019,
https://arxiv.org/abs/1905.11946 (Table 1: the B0 network).
Reference implementation: pytorch/vision ``torchvision/models/efficientnet.py`` at v0.29.1 (commit 1f1a920), which
builds the same network as huggingface/pytorch-image-models ``timm/models/efficientnet.py`` (commit aa4b585,
``efficientnet_b0``): at width 1.0 with 1000 classes 5,288,548 parameters and 385.8M conv/linear MACs at 224×224
(counted on both references; ``tests/test_hosts.py``).

Structure, as the reference: stem 3×3 conv stride 2, 32 channels, BN, SiLU; MBConv stages (t, k, c, n, s)
(1,3,16,1,1) (6,3,24,2,2) (6,5,40,2,2) (6,3,80,3,2) (6,5,112,3,1) (6,5,192,4,2) (6,3,320,1,1), each block
(``_mbconv.py``) an optional 1×1 expansion to ``make_divisible(in · t, 8)``, a k×k depthwise conv, the SE, a linear
1×1 projection and the residual add when stride = 1 and in = out, with SiLU activations; then a 1×1 conv to 4× the
last width (1280), BN, SiLU; global average pool, Dropout(0.2), Linear. Channels are ``make_divisible(c · width, 8)``;
the width multiplier scales channels only (B1-B7 also scale depth and resolution, which this backbone does not).

The network's own SE (the reference's ``SqueezeExcitation`` with SiLU): global average pool, 1×1 conv (bias) to
``max(1, C_in // 4)`` — a quarter of the block's *input* width, so 1/24 of the expanded width in the t = 6 blocks —,
SiLU, 1×1 conv (bias) back to the expanded width, sigmoid gate, scale, after the depthwise conv. It is
``SqueezeExcite`` (``modules/se.py``) with that width, activation and gate. Every one of the 16 blocks has it, so
every block has the attention slot ``after_dw``:

- ``create_model("effnet_b0", "se")`` is the reference network (the host's own SE; ``--reduction r`` gives it
  ``max(1, C_in // r)`` hidden channels);
- ``"none"`` removes the SE: the network without any attention;
- any other registered module replaces it, built for the slot's (expanded) channel count with its own defaults. The
  Coordinate Attention paper's EfficientNet-b0 comparison ("simply replace the SE module with CA") is
  ``"ca"`` here: 5,381,804 parameters.

Stage attention (``stage_attn_layer``, BAM's hook) goes at the end of the 24-, 40- and 112-channel stages (output
strides 4, 8, 16), 3 modules, as for MobileNetV2; the host's own SE is then left out.

Deviations from the reference:
- Layers are named (``features.stem``, ``features.stage{i}.{j}.expand/dw/attn/project``, ``features.head``), not
  numbered, so the reference's state-dict keys do not load directly.
- No stochastic depth: the reference drops residual branches at random while training (rate up to 0.2); in eval
  mode both are the identity, so no count changes, but a training run here regularises less.
- ``small_input=True`` (32-64 px inputs) sets the stem and the first stride-2 stage to stride 1: total stride 8.
- The weight init is ``_helpers.init_weights`` (conv Kaiming-normal fan out, BN 1/0, linear N(0, 0.01)); the
  reference draws the classifier's weights uniformly in ±1/sqrt(classes).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from torch import nn

from .._helpers import AttnLayer, SlotLayer, check_position, check_width, init_weights, make_divisible
from .._registry import BACKBONES
from ..se import SqueezeExcite
from ._base import Backbone, builder, stage_settings
from ._mbconv import POSITIONS, MBConv, conv_norm_act

WIDTH_RANGE = (0.5, 2.0)
"""Width multipliers of B0's channels (B7 scales them by 2.0)."""

NATIVE_REDUCTION = 4
"""r of the network's own SE: ``max(1, C_in // 4)`` hidden channels, C_in the block's input width."""

# t, k, c, n, s
SETTINGS = (
    (1, 3, 16, 1, 1),
    (6, 3, 24, 2, 2),
    (6, 5, 40, 2, 2),
    (6, 3, 80, 3, 2),
    (6, 5, 112, 3, 1),
    (6, 5, 192, 4, 2),
    (6, 3, 320, 1, 1),
)
STAGE_ATTN_STAGES = ("stage2", "stage3", "stage5")
"""Stages followed by stage attention: the ends of the stride-4, -8 and -16 resolutions."""


def native_se(channels: int, in_channels: int) -> Callable[[int | None], nn.Module]:
    """``r -> SE``: the network's own SE on ``channels`` (hidden ``max(1, in_channels // r)``, SiLU, sigmoid)."""

    def build(reduction: int | None) -> nn.Module:
        r = NATIVE_REDUCTION if reduction is None else reduction
        hidden = max(1, in_channels // r)
        return SqueezeExcite(channels, rd_channels=hidden, act_layer=nn.SiLU, gate_layer=nn.Sigmoid)

    return build


class EfficientNet(Backbone):
    """EfficientNet-B0 as torchvision builds it, with its SE slots as attention hooks.

    Args:
        width: channel width multiplier, within ``WIDTH_RANGE``.
        num_classes: classifier outputs.
        small_input: stem and first stride-2 stage at stride 1 (total stride 8), for 32-64 px inputs.
        attn_layer: a registered module's constructor for the SE slots, ``None`` (no attention) or
            ``NativeAttention`` (the network's own SE).
        attn_position: in-block slot, one of ``POSITIONS``.
        stage_attn_layer: stage-boundary attention constructor, or ``None``; modules go to ``stage_attn`` under the
            keys ``STAGE_ATTN_STAGES``.
        dropout: dropout before the classifier.
    """

    stage_attn_stages = STAGE_ATTN_STAGES

    def __init__(
        self,
        *,
        width: float = 1.0,
        num_classes: int = 1000,
        small_input: bool = False,
        attn_layer: SlotLayer = None,
        attn_position: str = POSITIONS[0],
        stage_attn_layer: AttnLayer = None,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        check_width(width, WIDTH_RANGE, "effnet_b0")
        check_position(attn_position, POSITIONS, "effnet_b0")
        self.stage_attn = nn.ModuleDict()
        channels = make_divisible(32 * width, 8)
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            stem=conv_norm_act(3, channels, 3, 1 if small_input else 2, act_layer=nn.SiLU)
        )

        def block(j: int, cin: int, out: int, stride: int, dilation: int, row: tuple[int, int]) -> nn.Module:
            t, k = row
            hidden = make_divisible(cin * t, 8)
            return MBConv(cin, out, hidden, k, stride, nn.SiLU, native_se(hidden, cin), attn_layer)

        stages = (
            (i, make_divisible(c * width, 8), n, s, 1, 1, (t, k))
            for i, t, k, c, n, s, _, _ in stage_settings(SETTINGS, small_input)
        )
        channels = self._build_stages(layers, stages, channels, block, stage_attn_layer)
        head = 4 * channels
        layers["head"] = conv_norm_act(channels, head, 1, act_layer=nn.SiLU)
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(head, num_classes))
        self.num_features = head
        init_weights(self)


efficientnet_b0 = BACKBONES.register(
    "effnet_b0",
    builder(
        EfficientNet,
        "efficientnet_b0",
        POSITIONS[0],
        "Build EfficientNet-B0; see :class:`EfficientNet` for the arguments.",
    ),
    paper="EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (Tan and Le, ICML 2019), B0",
    arxiv="1905.11946",
    reference="pytorch/vision torchvision/models/efficientnet.py (v0.29.1); timm efficientnet.py",
    positions=POSITIONS,
    stage_slot="end of the 24-, 40- and 112-channel stages (output strides 4, 8, 16): 3 modules",
    width_range=WIDTH_RANGE,
    min_input=32,
    min_input_small=8,
    native_attention="se",
    native_reduction=NATIVE_REDUCTION,
    own_attention="SE in all 16 blocks: C_in / 4 hidden (1/24 of the expanded width at t = 6), SiLU, sigmoid",
)


__all__ = ["SETTINGS", "EfficientNet", "efficientnet_b0"]
