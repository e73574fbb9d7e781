"""The dense prediction heads: SSDLite320 (detection), DeepLabV3 and LR-ASPP (segmentation).

Importing this package registers them in ``HEADS``. ``create_model(..., head=...)`` builds a backbone and puts a
head on it; each head file opens with its paper, its reference and every choice made.
"""

from __future__ import annotations

from . import deeplabv3, lraspp, ssdlite  # noqa: F401  (registration side effect)
from ._features import DenseModel
from .deeplabv3 import ASPP, DeepLabV3
from .lraspp import LRASPP
from .ssdlite import SGExtra, SSDLite

__all__ = ["ASPP", "LRASPP", "DeepLabV3", "DenseModel", "SGExtra", "SSDLite"]
