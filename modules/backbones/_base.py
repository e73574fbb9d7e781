"""What the backbones share: stage-boundary attention, ``forward_features`` and the registry builders.

Each backbone file holds only its own architecture. Its model class derives from :class:`Backbone`, which runs the
named stages in order, applies the stage attention after the stages it was put behind, and then the pooled
classifier. Its registry builder comes from :func:`builder`, the keyword-only interface that ``create_model`` calls.
The MobileNets and EfficientNet read their stage tables through :func:`stage_settings` (the ``small_input`` stride
rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch
from torch import nn

from .._helpers import AttnLayer, SlotLayer

_Model = TypeVar("_Model", bound=nn.Module)


class Backbone(nn.Module):
    """Base of the backbones: stage attention in ``stage_attn``, the named stages, the pooled classifier.

    A subclass sets ``stage_attn_stages``, creates ``self.stage_attn = nn.ModuleDict()`` and calls
    :meth:`_add_stage_attn` as its stages are built. The defaults of :meth:`_stages` and :meth:`_head` fit the
    MobileNet layout (``features``, an ``nn.Sequential`` of named stages, then ``pool`` and ``classifier``); a
    backbone laid out otherwise overrides them.
    """

    stage_attn_stages: tuple[str, ...] = ()
    """The stages followed by stage attention when a ``stage_attn_layer`` is given (the keys of ``stage_attn``)."""

    stage_attn: nn.ModuleDict

    def _add_stage_attn(self, stage: str, channels: int, stage_attn_layer: AttnLayer) -> None:
        """Put ``stage_attn_layer(channels)`` after ``stage`` if there is a layer and ``stage`` takes one."""
        if stage_attn_layer is not None and stage in self.stage_attn_stages:
            self.stage_attn[stage] = stage_attn_layer(channels)

    def _build_stages(
        self,
        layers: dict[str, nn.Module],
        stages: Iterable[tuple[Any, ...]],
        channels: int,
        block: Callable[[int, int, int, int, int, tuple[Any, ...]], nn.Module],
        stage_attn_layer: AttnLayer,
    ) -> int:
        """Append one ``nn.Sequential`` per stage to ``layers`` and return the channels after the last.

        ``stages`` yields ``(i, out, n, s, d_first, d_rest, row)``: the stage number (from 1), its output channels,
        its block count, the stride and dilation of its first block, the dilation of the others, and the row of the
        stage table it came from. ``block(j, in_channels, out, stride, dilation, row)`` builds block ``j`` of the
        stage (the first takes ``s`` and ``d_first``, the others stride 1 and ``d_rest``). Stage attention goes after
        each stage that takes one (:meth:`_add_stage_attn`).
        """
        for i, out, n, s, d_first, d_rest, row in stages:
            blocks = []
            for j in range(n):
                stride, dilation = (s, d_first) if j == 0 else (1, d_rest)
                blocks.append(block(j, channels, out, stride, dilation, row))
                channels = out
            layers[f"stage{i}"] = nn.Sequential(*blocks)
            self._add_stage_attn(f"stage{i}", channels, stage_attn_layer)
        return channels

    def _stages(self) -> Iterator[tuple[str, nn.Module]]:
        """The layers before pooling as ``(name, module)``, in forward order, named as the keys of ``stage_attn``."""
        return self.features.named_children()

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        """Global pool, flatten, classifier."""
        return self.classifier(torch.flatten(self.pool(x), 1))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map before pooling."""
        for name, layer in self._stages():
            x = layer(x)
            if name in self.stage_attn:
                x = self.stage_attn[name](x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._head(self.forward_features(x))


OUTPUT_STRIDES = (8, 16, 32)
"""The output strides a MobileNet backbone can be built at (32: the classification network)."""


def stage_settings(
    settings: Iterable[tuple[Any, ...]], small_input: bool, output_stride: int = 32
) -> Iterator[tuple[Any, ...]]:
    """``(i, *row, d_first, d_rest)`` for the rows of a stage table whose last field is the stride (MobileNet's
    (t, c, n, s)), ``i`` counting stages from 1, with the dilation of the depthwise convs of the stage's first block
    and of its other blocks (1 at output stride 32).

    With ``small_input`` the first stride-2 stage runs at stride 1 (with the stem at stride 1: total stride 8).
    ``output_stride`` (8 or 16) turns the stride-2 stages that would go past it into stride 1 and dilates what
    follows instead, as the DeepLabV3 paper (Chen et al., arXiv:1706.05587, §3) obtains dense features: such a
    stage's first block keeps the dilation so far, its other blocks and every later stage multiply it by 2.
    """
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {', '.join(map(str, OUTPUT_STRIDES))}, got {output_stride}")
    keep_resolution = small_input
    stride, rate = (1 if small_input else 2), 1
    for i, (*fields, s) in enumerate(settings, start=1):
        if s == 2 and keep_resolution:
            s, keep_resolution = 1, False
        first = rate
        if s == 2 and stride * s > output_stride:
            s, rate = 1, rate * 2
        stride *= s
        yield i, *fields, s, first, rate


def builder(
    model: Callable[..., _Model], name: str, default_position: str, doc: str, /, *args: Any, **fixed: Any
) -> Callable[..., _Model]:
    """The registry builder ``name`` of a backbone: ``model(*args, ..., **fixed)`` with the keyword interface.

    Args:
        model: the backbone class.
        name: the builder's ``__name__`` (its public name in the backbone file).
        default_position: the default of ``attn_position`` (the backbone's first position).
        doc: the builder's docstring.
        *args, **fixed: passed to ``model`` besides the keyword interface (ResNet's block type, depths and key).
    """

    def build(
        *,
        width: float = 1.0,
        num_classes: int = 1000,
        small_input: bool = False,
        attn_layer: SlotLayer = None,
        attn_position: str = default_position,
        stage_attn_layer: AttnLayer = None,
        output_stride: int = 32,
    ) -> _Model:
        dense = {} if output_stride == 32 else {"output_stride": output_stride}  # only the dense heads' backbones
        return model(
            *args,
            width=width,
            num_classes=num_classes,
            small_input=small_input,
            attn_layer=attn_layer,
            attn_position=attn_position,
            stage_attn_layer=stage_attn_layer,
            **dense,
            **fixed,
        )

    build.__name__ = build.__qualname__ = name
    build.__module__ = getattr(model, "__module__", build.__module__)
    build.__doc__ = doc
    return build
