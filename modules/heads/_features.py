"""What the dense heads share: the backbone without its classifier, its feature taps, and the model interface.

A dense model holds the backbone (``backbone``, the classification network less its pooling and classifier) and a
head. It reads intermediate features of the backbone by *tap* names: a stage name (``stage5``, ``head``: the
output of that stage, after its stage attention if it has one) or ``stageN.expand``, the expanded feature inside
the first block of a MobileNeXt stage, before its last depthwise conv (``SGBlock.forward_split``), where the
MobileNeXt detection code taps.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..backbones._base import Backbone


def strip_classifier(backbone: Backbone, drop_head_conv: bool = False) -> Backbone:
    """Remove the pooling and classifier (and, with ``drop_head_conv``, MobileNetV2's 1×1 head conv) in place."""
    del backbone.pool, backbone.classifier
    if drop_head_conv and "head" in backbone.features._modules:
        del backbone.features.head
    return backbone


def run_taps(backbone: Backbone, x: torch.Tensor, taps: Iterable[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The backbone's last feature map and the tapped ones (stage attention applied as in ``forward_features``)."""
    taps = set(taps)
    found: dict[str, torch.Tensor] = {}
    for name, layer in backbone._stages():
        if f"{name}.expand" in taps:
            first, *rest = layer
            found[f"{name}.expand"], x = first.forward_split(x)
            for block in rest:
                x = block(x)
        else:
            x = layer(x)
        if name in backbone.stage_attn:
            x = backbone.stage_attn[name](x)
        if name in taps:
            found[name] = x
    return x, found


def tap_channels(backbone: Backbone, taps: Iterable[str]) -> dict[str, int]:
    """The channel count of every tap and of the last feature map (key ``""``), from one small probe forward."""
    taps = tuple(taps)
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            last, found = run_taps(backbone, torch.zeros(1, 3, 64, 64), taps)
    finally:
        backbone.train(was_training)
    return {"": last.shape[1], **{k: v.shape[1] for k, v in found.items()}}


class DenseModel(nn.Module):
    """Base of the dense models: ``backbone`` plus a head; the output is one tensor (see each head)."""

    backbone: Backbone
    num_classes: int
    slots: str
    """Where attention sits: ``backbone`` (the backbone's slots only) or ``backbone+extras`` (also the head's
    extra blocks)."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output's shape for an input of ``input_shape`` (batch, 3, height, width)."""
        raise NotImplementedError

    @staticmethod
    def predicted_classes(out: torch.Tensor) -> torch.Tensor:
        """The class each output position predicts: per pixel (segmentation) or per box (detection)."""
        return out.argmax(1)
