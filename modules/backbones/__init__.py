"""The backbones: MobileNetV2, MobileNeXt, ResNet-18/50, MobileNetV3-Large/Small and EfficientNet-B0. Importing this
package registers them in ``BACKBONES``."""

from __future__ import annotations

# Importing the files registers their entries; the order here is the order `attnbench list` shows.
# isort: off
from . import mobilenetv2, mobilenext, resnet, mobilenetv3, efficientnet  # noqa: F401  (registration side effect)

# isort: on
from ._mbconv import MBConv
from .efficientnet import EfficientNet
from .mobilenetv2 import InvertedResidual, MobileNetV2
from .mobilenetv3 import MobileNetV3
from .mobilenext import MobileNeXt, SGBlock
from .resnet import BasicBlock, Bottleneck, ResNet

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "EfficientNet",
    "InvertedResidual",
    "MBConv",
    "MobileNeXt",
    "MobileNetV2",
    "MobileNetV3",
    "ResNet",
    "SGBlock",
]
