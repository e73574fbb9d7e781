"""The backbones: MobileNetV2, MobileNeXt and ResNet-18/50. Importing this package registers them in ``BACKBONES``."""

from __future__ import annotations

from . import mobilenetv2, mobilenext, resnet  # noqa: F401  (registration side effect)
from .mobilenetv2 import InvertedResidual, MobileNetV2
from .mobilenext import MobileNeXt, SGBlock
from .resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["BasicBlock", "Bottleneck", "InvertedResidual", "MobileNeXt", "MobileNetV2", "ResNet", "SGBlock"]
