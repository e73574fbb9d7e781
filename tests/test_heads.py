"""The dense heads: parameter counts against the authors' detection code, shapes, output strides, errors.

Reference counts (``REFERENCE``) were obtained once, outside this repository, by building the detector of
Andrew-Qibin/ssdlite-pytorch-mobilenext (commit 6219e33) from its own code: ``ssd.config.cfg`` merged with each
``configs/*_ssd320_*.yaml`` (``MODEL.BACKBONE.PRETRAINED = False``), ``build_detection_model(cfg)``, then
``sum(p.numel() for p in model.parameters())`` (torch 2.13.0, yacs; the repository imports torchvision only for
NMS in post-processing and old torch.hub download helpers, both replaced by stand-ins since nothing was
downloaded or post-processed). The SE row set ``MODEL.BACKBONE.NAME = 'se_mbv2'`` after importing
``ssd/modeling/backbone/se_mbv2.py`` (the repository does not register it). The same builds gave the feature-map
shapes (96/576, 1280, 512, 256, 256, 64/128 channels at 20, 10, 5, 3, 2, 1 px) and 3,232 (COCO) / 3,234 (VOC)
boxes at 320×320.
"""

from __future__ import annotations

import pytest
import torch

from attnbench import modules
from attnbench.modules.heads import SSDLite

REFERENCE = {
    ("ssdlite", "mbv2"): 4_304_138,
    ("ssdlite_voc", "mbv2"): 3_425_988,
    ("ssdlite", "mnext"): 4_539_418,
    ("ssdlite_voc", "mnext"): 3_476_308,
}
SE_MBV2_COCO = 4_574_728
"""``se_mbv2`` with the COCO config: SE (C // 24, ReLU6) in every t ≠ 1 block and in the extras, whose expansion
ratios there are 0.2, 0.25, 0.5, 0.25."""


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("head", "backbone"), sorted(REFERENCE))
def test_ssdlite_equals_the_reference_build(head: str, backbone: str) -> None:
    assert params(modules.create_model(backbone, head=head)) == REFERENCE[(head, backbone)]


def test_ssdlite_se_rebuilds_the_reference_se_backbone() -> None:
    se = modules.attention_layer("se", reduction=24)
    backbone = modules.create_model("mbv2", "se", attn_kwargs={"reduction": 24})
    net = SSDLite(backbone, "mbv2", attn_layer=se, attn_position="after_dw", extra_ratios=(0.2, 0.25, 0.5, 0.25))
    assert params(net) == SE_MBV2_COCO


def test_ssdlite_attention_in_the_extras_follows_the_slot_rule() -> None:
    kw = {"attn_kwargs": {"reduction": 24}}
    with_extras = modules.create_model("mbv2", "se", head="ssdlite", **kw)
    without = modules.create_model("mbv2", "se", head="ssdlite", head_slots="backbone", **kw)
    in_extras = [n for n, _ in modules.find_attention(with_extras) if n.startswith("extras.")]
    assert len(in_extras) == 4 and not [n for n, _ in modules.find_attention(without) if n.startswith("extras.")]
    # SE(C, r=24) = 2·C·(C // 24) + C // 24 + C parameters; the extras' hidden widths are 256, 256, 128, 128.
    se = sum(2 * c * (c // 24) + c // 24 + c for c in (256, 256, 128, 128))
    assert params(with_extras) - params(without) == se == 13_598


@pytest.mark.parametrize("backbone", ["mbv2", "mnext"])
@pytest.mark.parametrize("head", ["ssdlite", "ssdlite_voc"])
def test_ssdlite_shapes(head: str, backbone: str) -> None:
    net = modules.create_model(backbone, "ca", head=head).eval()
    for shape in ((1, 3, 320, 320), (2, 3, 128, 192)):
        with torch.no_grad():
            maps = net.features(torch.randn(*shape))
            out = net(torch.randn(*shape))
        assert [m.shape[2:] for m in maps][:2] == [torch.Size((-(-shape[2] // s), -(-shape[3] // s))) for s in (16, 32)]
        assert tuple(out.shape) == net.output_shape(shape)
    boxes = 3232 if head == "ssdlite" else 3234
    assert net.output_shape((1, 3, 320, 320)) == (1, boxes, net.num_classes + 4)


def test_ssdlite_output_is_the_reference_predictor_layout() -> None:
    """Class logits then box offsets on the last axis, boxes in the order (map, row, column, box)."""
    net = modules.create_model("mbv2", head="ssdlite_voc").eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        out = net(x)
        maps = net.features(x)
        first_cls = net.cls_heads[0](maps[0])  # (1, boxes · classes, h, w)
        first_reg = net.reg_heads[0](maps[0])
    k, c = net.boxes[0], net.num_classes
    # the box at row 1, column 2, box index 3 of the first map
    index = (1 * maps[0].shape[3] + 2) * k + 3
    assert torch.allclose(out[0, index, :c], first_cls[0, 3 * c : 4 * c, 1, 2])
    assert torch.allclose(out[0, index, c:], first_reg[0, 12:16, 1, 2])


@pytest.mark.parametrize("backbone", ["mbv2", "mnext"])
@pytest.mark.parametrize("head", ["deeplabv3", "lraspp"])
def test_segmentation_heads_give_the_logits_map(head: str, backbone: str) -> None:
    for stride in (16, 8):
        net = modules.create_model(backbone, "se", head=head, output_stride=stride, num_classes=19).eval()
        with torch.no_grad():
            features = net.backbone.forward_features(torch.randn(1, 3, 96, 160))
            out = net(torch.randn(2, 3, 96, 160))
        assert tuple(features.shape[2:]) == (96 // stride, 160 // stride)
        assert tuple(out.shape) == net.output_shape((2, 3, 96, 160)) == (2, 19, 96, 160)


def test_deeplabv3_drops_the_1280_conv_and_counts_as_derived() -> None:
    net = modules.create_model("mbv2", head="deeplabv3")
    assert "head" not in net.backbone.features._modules
    backbone = params(modules.create_model("mbv2")) - (1280 * 1000 + 1000) - (320 * 1280 + 2 * 1280)
    aspp = 320 * 256 + 3 * 9 * 320 * 256 + 320 * 256 + 5 * 256 * 256 + 6 * 2 * 256  # 6 conv+BN, no conv bias
    assert params(net) == backbone + aspp + 256 * 21 + 21 == 4_523_541


def test_output_stride_changes_no_parameter() -> None:
    counts = {s: params(modules.create_model("mnext", "ca", head="deeplabv3", output_stride=s)) for s in (16, 8)}
    assert counts[16] == counts[8]
    assert params(modules.create_model("mnext", output_stride=None)) == 3_535_416


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backbone": "r18", "head": "deeplabv3"}, "takes the backbones"),
        ({"backbone": "mbv2", "head": "ssdlite", "output_stride": 16}, "output stride"),
        ({"backbone": "mbv2", "head": "deeplabv3", "output_stride": 32}, "output stride"),
        ({"backbone": "mbv2", "head": "deeplabv3", "head_slots": "backbone+extras"}, "slots"),
        ({"backbone": "mbv2", "head": "ssdlite", "small_input": True}, "full-stride"),
        ({"backbone": "mbv2", "output_stride": 16}, "needs a dense head"),
    ],
)
def test_bad_head_configurations_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        modules.create_model(**kwargs)


def test_unknown_head_lists_the_heads() -> None:
    with pytest.raises(modules.UnknownNameError, match="deeplabv3"):
        modules.create_model("mbv2", head="deeplab")
