"""Every registered module in every registered backbone: builds, trains a step, keeps shapes, sits in its slots."""

from __future__ import annotations

import pytest
import torch

import attnbench.modules as M

# Attention instances per backbone: in every attended block (default slot), or at the 3 stage boundaries.
BLOCK_SLOTS = {"mbv2": 16, "mnext": 20, "r18": 8, "r50": 16, "mbv3_large": 8, "mbv3_small": 9, "effnet_b0": 16}
STAGE_SLOTS = 3


FAMILIES = {"none", "se", "cbam", "bam", "ca", "eca", "simam", "gc", "triplet"}


@pytest.mark.parametrize("backbone", M.BACKBONES.names())
@pytest.mark.parametrize(  # the variants of a family take the same path through a backbone: with the slow tests
    "name", [n if n in FAMILIES else pytest.param(n, marks=pytest.mark.slow) for n in M.ATTENTION.names()]
)
def test_module_in_backbone(name: str, backbone: str) -> None:
    width = M.BACKBONES.get(backbone).meta["width_range"][0]
    model = M.create_model(backbone, name, width=width, num_classes=10, small_input=True).train()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    y.logsumexp(1).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()

    found = M.find_attention(model)
    entry = M.ATTENTION.get(name)
    if entry.meta.get("baseline"):
        assert found == []
        return
    stage = entry.meta["hook"] == "stage"
    assert len(found) == (STAGE_SLOTS if stage else BLOCK_SLOTS[backbone])
    for qualified, module in found:
        assert (".stage_attn." in f".{qualified}") if stage else qualified.endswith(".attn")
        assert type(module) is type(M.create_attention(name, 16))
        assert all(p.grad is not None for p in module.parameters()), f"{qualified} took no part in the backward"
