"""MobileNetV3-Large and MobileNetV3-Small, with their own squeeze-and-excitation at the attention slot.

Paper: "Searching for MobileNetV3", Howard, Sandler, Chu, Chen, Chen, Tan, Wang, Zhu, Pang, Vasudevan, Le, Adam,
ICCV 2019, https://arxiv.org/abs/1905.02244 (Tables 1 and 2: the two networks; Fig. 4: the block with SE).
Reference implementation: pytorch/vision ``torchvision/models/mobilenetv3.py`` at v0.29.1 (commit 1f1a920), which
builds the same networks as huggingface/pytorch-image-models ``timm/models/mobilenetv3.py`` (commit aa4b585,
``mobilenetv3_large_100`` / ``mobilenetv3_small_100``): at width 1.0 with 1000 classes 5,483,032 and 2,542,856
parameters, 216.6M and 56.5M conv/linear MACs at 224×224 (counted on both references; ``tests/test_hosts.py``).

Structure, as the reference: stem 3×3 conv stride 2, 16 channels, BN, hard-swish; then the blocks of Table 1
(Large) or Table 2 (Small), each ``MBConv`` (``_mbconv.py``): an optional 1×1 expansion, a k×k depthwise conv, the SE
where the table has one, a linear 1×1 projection, and the residual add when stride = 1 and in = out; ReLU in the
early blocks and hard-swish in the later ones, as the tables mark them. Then a 1×1 conv to 6× the last block's width
(960 / 576), BN, hard-swish; global average pool; Linear to 1280 / 1024, hard-swish, Dropout(0.2), Linear to the
classes. BatchNorm eps 1e-3, momentum 0.01. Channels (every block's input, expanded and output width, and the
1280 / 1024 of the classifier) are ``make_divisible(c · width, 8)``, as the reference scales them.

The network's own SE (the reference's ``SqueezeExcitation`` with ``Hardsigmoid``): global average pool, 1×1 conv
(bias) to ``make_divisible(C // 4, 8)``, ReLU, 1×1 conv (bias) back to C, hard-sigmoid gate, scale, on the expanded
width C after the depthwise conv. It is ``SqueezeExcite`` (``modules/se.py``) with that width, activation and gate.
Large has it in 8 of its 15 blocks, Small in 9 of 11. Attention slot ``after_dw`` is where it sits, so only those
blocks have a slot:

- ``create_model("mbv3_large", "se")`` is the reference network (the host's own SE; ``--reduction r`` gives it
  ``make_divisible(C // r, 8)`` hidden channels);
- ``"none"`` removes the SE: the network without any attention;
- any other registered module replaces it, built for the slot's channel count with its own defaults.

Stage attention (``stage_attn_layer``, BAM's hook) goes at the end of the stages that close the output strides 4, 8
and 16 (Large: the 24-, 40- and 112-channel stages; Small: the 16-, 24- and 48-channel stages), 3 modules, as for
MobileNetV2; the host's own SE is then left out (a network holds one kind of attention at a time).

Deviations from the reference:
- Layers are named (``features.stem``, ``features.stage{i}.{j}.expand/dw/attn/project``, ``features.head``), not
  numbered, so the reference's state-dict keys do not load directly.
- ``small_input=True`` (32-64 px inputs) sets the stem and the first stride-2 stage to stride 1: total stride 8.
- The weight init (``_helpers.init_weights``) is the reference's: conv Kaiming-normal (fan out), BN 1/0, linear
  N(0, 0.01); it covers the attention modules too.
- The reference's options for detection (``reduced_tail``, ``dilated``) and timm's "minimal" variants are not
  offered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from torch import nn

from .._helpers import AttnLayer, SlotLayer, check_position, check_width, init_weights, make_divisible
from .._registry import BACKBONES
from ..se import SqueezeExcite
from ._base import Backbone, builder, stage_settings
from ._mbconv import POSITIONS, MBConv, Norm, conv_norm_act

WIDTH_RANGE = (0.35, 1.25)
"""Width multipliers the paper reports (0.35 to 1.25)."""

NATIVE_REDUCTION = 4
"""r of the network's own SE: ``make_divisible(C // 4, 8)`` hidden channels."""

Block = tuple[int, int, int, bool, bool, int]
"""kernel, expanded width, output width, has SE, hard-swish (else ReLU), stride."""

LARGE: tuple[tuple[tuple[Block, ...], int], ...] = (
    (((3, 16, 16, False, False, 1),), 1),
    (((3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1)), 2),
    (((5, 72, 40, True, False, 2), (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1)), 2),
    (
        (
            (3, 240, 80, False, True, 2),
            (3, 200, 80, False, True, 1),
            (3, 184, 80, False, True, 1),
            (3, 184, 80, False, True, 1),
        ),
        2,
    ),
    (((3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1)), 1),
    (((5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1), (5, 960, 160, True, True, 1)), 2),
)
"""MobileNetV3-Large (paper Table 1) as stages of blocks; a stage's stride (its first block's) comes last."""

SMALL: tuple[tuple[tuple[Block, ...], int], ...] = (
    (((3, 16, 16, True, False, 2),), 2),
    (((3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1)), 2),
    (((5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1)), 2),
    (((5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1)), 1),
    (((5, 288, 96, True, True, 2), (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1)), 2),
)
"""MobileNetV3-Small (paper Table 2), as ``LARGE``."""

_NORM = Norm(eps=1e-3, momentum=0.01)


def native_se(channels: int) -> Callable[[int | None], nn.Module]:
    """``r -> SE``: the network's own SE for ``channels`` (hidden ``make_divisible(C // r, 8)``, hard-sigmoid)."""

    def build(reduction: int | None) -> nn.Module:
        r = NATIVE_REDUCTION if reduction is None else reduction
        hidden = make_divisible(channels // r, 8)
        return SqueezeExcite(channels, rd_channels=hidden, act_layer=nn.ReLU, gate_layer=nn.Hardsigmoid)

    return build


class MobileNetV3(Backbone):
    """MobileNetV3 (Large or Small) as torchvision builds it, with its SE slots as attention hooks.

    Args:
        stages: ``LARGE`` or ``SMALL``.
        last_channels: the classifier's hidden width at width 1.0 (1280 / 1024).
        stage_attn_stages: the stages followed by stage attention.
        name: the registry key, for messages.
        width: channel width multiplier, within ``WIDTH_RANGE``.
        num_classes: classifier outputs.
        small_input: stem and first stride-2 stage at stride 1 (total stride 8), for 32-64 px inputs.
        attn_layer: a registered module's constructor for the SE slots, ``None`` (no attention) or
            ``NativeAttention`` (the network's own SE).
        attn_position: in-block slot, one of ``POSITIONS``.
        stage_attn_layer: stage-boundary attention constructor, or ``None``.
        dropout: dropout before the last linear layer.
    """

    def __init__(
        self,
        stages: tuple[tuple[tuple[Block, ...], int], ...],
        last_channels: int,
        stage_attn_stages: tuple[str, ...],
        name: str,
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
        check_width(width, WIDTH_RANGE, name)
        check_position(attn_position, POSITIONS, name)
        self.stage_attn_stages = stage_attn_stages
        self.stage_attn = nn.ModuleDict()
        channels = make_divisible(16 * width, 8)
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            stem=conv_norm_act(3, channels, 3, 1 if small_input else 2, act_layer=nn.Hardswish, norm=_NORM)
        )
        for i, blocks, s, _, _ in stage_settings(stages, small_input):
            stage = []
            for j, (k, expanded, out, se, hswish, stride) in enumerate(blocks):
                hidden, out = make_divisible(expanded * width, 8), make_divisible(out * width, 8)
                act = nn.Hardswish if hswish else nn.ReLU
                native = native_se(hidden) if se else None
                stride = s if j == 0 else stride
                stage.append(MBConv(channels, out, hidden, k, stride, act, native, attn_layer, _NORM))
                channels = out
            layers[f"stage{i}"] = nn.Sequential(*stage)
            self._add_stage_attn(f"stage{i}", channels, stage_attn_layer)
        head = 6 * channels
        layers["head"] = conv_norm_act(channels, head, 1, act_layer=nn.Hardswish, norm=_NORM)
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        last = make_divisible(last_channels * width, 8)
        self.classifier = nn.Sequential(
            nn.Linear(head, last), nn.Hardswish(inplace=True), nn.Dropout(dropout), nn.Linear(last, num_classes)
        )
        self.num_features = last
        init_weights(self)


_META = {
    "arxiv": "1905.02244",
    "reference": "pytorch/vision torchvision/models/mobilenetv3.py (v0.29.1); timm mobilenetv3.py",
    "positions": POSITIONS,
    "width_range": WIDTH_RANGE,
    "min_input": 32,
    "min_input_small": 8,
    "native_attention": "se",
    "native_reduction": NATIVE_REDUCTION,
}

mobilenet_v3_large = BACKBONES.register(
    "mbv3_large",
    builder(
        MobileNetV3,
        "mobilenet_v3_large",
        POSITIONS[0],
        "Build MobileNetV3-Large; see :class:`MobileNetV3` for the arguments.",
        LARGE,
        1280,
        ("stage2", "stage3", "stage5"),
        "mbv3_large",
    ),
    paper="Searching for MobileNetV3 (Howard et al., ICCV 2019), MobileNetV3-Large",
    stage_slot="end of the 24-, 40- and 112-channel stages (output strides 4, 8, 16): 3 modules",
    own_attention="SE in 8 of 15 blocks: make_divisible(C / 4, 8) hidden, ReLU, hard-sigmoid",
    **_META,
)
mobilenet_v3_small = BACKBONES.register(
    "mbv3_small",
    builder(
        MobileNetV3,
        "mobilenet_v3_small",
        POSITIONS[0],
        "Build MobileNetV3-Small; see :class:`MobileNetV3` for the arguments.",
        SMALL,
        1024,
        ("stage1", "stage2", "stage4"),
        "mbv3_small",
    ),
    paper="Searching for MobileNetV3 (Howard et al., ICCV 2019), MobileNetV3-Small",
    stage_slot="end of the 16-, 24- and 48-channel stages (output strides 4, 8, 16): 3 modules",
    own_attention="SE in 9 of 11 blocks: make_divisible(C / 4, 8) hidden, ReLU, hard-sigmoid",
    **_META,
)


__all__ = ["LARGE", "SMALL", "MobileNetV3", "mobilenet_v3_large", "mobilenet_v3_small"]
