"""Networks with attention of their own: MobileNetV3-Large/Small and EfficientNet-B0, and any model with SE-like slots.

Reference numbers (width 1.0, 1000 classes, 1×3×224×224) were obtained once from torchvision 0.29.1 (commit 1f1a920)
and timm 1.0.31 in a separate environment outside the repository, where both import beside torch 2.14.1:
``sum(p.numel() for p in model.parameters())`` for params, and ``torch.utils.flop_counter.FlopCounterMode``'s total
over one eval forward, divided by 2, for MACs (it counts convolutions and matrix products, 2 per multiply-add).
``torchvision.models.mobilenet_v3_large()`` and ``timm.create_model("mobilenetv3_large_100")`` gave the same
numbers, as did the Small and EfficientNet-B0 pairs. The SE counts are the parameters of their
``torchvision.ops.misc.SqueezeExcitation`` modules, and the per-block SE widths their ``fc1`` shapes.
"""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path

import pandas as pd
import pytest
import torch
from clihelp import run_cli
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import attnbench
import attnbench.modules as M
from attnbench.cost.reduction import reduction_for
from attnbench.cost.spec import ProfileSpec
from attnbench.errors import UsageError
from attnbench.modules import swap
from attnbench.modules.se import SqueezeExcite

PLUGIN = Path(__file__).resolve().parent / "plugins" / "se_net.py"

REFERENCE = {  # params, MACs, SE params
    "mbv3_large": (5_483_032, 216_589_760, 1_512_280),
    "mbv3_small": (2_542_856, 56_510_400, 461_640),
    "effnet_b0": (5_288_548, 385_814_752, 636_540),
}
# (input channels, hidden channels) of the reference's SqueezeExcitation modules, in order.
SE_WIDTHS = {
    "mbv3_large": ([72, 120, 120, 480, 672, 672, 960, 960], [24, 32, 32, 120, 168, 168, 240, 240]),
    "mbv3_small": ([16, 96, 240, 240, 120, 144, 288, 576, 576], [8, 24, 64, 64, 32, 40, 72, 144, 144]),
    "effnet_b0": (
        [32, 96, 144, 144, 240, 240, 480, 480, 480, 672, 672, 672, 1152, 1152, 1152, 1152],
        [8, 4, 6, 6, 10, 10, 20, 20, 20, 28, 28, 28, 48, 48, 48, 48],
    ),
}
GATES = {
    "mbv3_large": (nn.ReLU, nn.Hardsigmoid),
    "mbv3_small": (nn.ReLU, nn.Hardsigmoid),
    "effnet_b0": (nn.SiLU, nn.Sigmoid),
}
HOSTS = tuple(REFERENCE)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def ca_params(c: int, r: int = 32, floor: int = 8) -> int:
    """Coordinate Attention's parameters from the paper's layers: shared 1×1 conv C→mip (bias), BN (weight and
    bias), two 1×1 convs mip→C (bias); mip = max(floor, C // r)."""
    mip = max(floor, c // r)
    return (c * mip + mip) + 2 * mip + 2 * (mip * c + c)


def se_params(c: int, hidden: int) -> int:
    return (c * hidden + hidden) + (hidden * c + c)


def profile_rows(backbone: object, modules: list[str], **fields: object) -> dict[str, dict]:
    frame = attnbench.profile(modules, backbone=backbone, latency=False, memory=False, **fields)
    return {r["module"]: r for r in frame.to_dict("records")}


# ------------------------------------------------------------------------------------------ the built-in hosts


@pytest.mark.parametrize("host", HOSTS)
def test_own_se_equals_the_reference_network(host: str) -> None:
    params, macs, se = REFERENCE[host]
    rows = profile_rows(host, ["se"])
    assert (rows["se"]["params"], rows["se"]["macs"]) == (params, macs)
    assert rows["se"]["attn_params"] == se
    assert (rows["se"]["reduction"], rows["se"]["reduction_rule"]) == (4, "native")
    assert rows["none"]["params"] == params - se and rows["none"]["attn_count"] == 0
    # the same MACs from torch's own counter, which knows nothing of attnbench's
    model = M.create_model(host, "se").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 224, 224))
    assert counter.get_total_flops() // 2 == macs


@pytest.mark.parametrize("host", HOSTS)
def test_own_se_structure(host: str) -> None:
    channels, hidden = SE_WIDTHS[host]
    act, gate = GATES[host]
    found = M.find_attention(M.create_model(host, "se"))
    assert [n.endswith(".attn") for n, _ in found] == [True] * len(channels)
    assert [(m.fc1.in_channels, m.fc1.out_channels) for _, m in found] == list(zip(channels, hidden))
    assert all(type(m) is SqueezeExcite and type(m.act) is act and type(m.gate) is gate for _, m in found)
    # an explicit r keeps the host's own width rule
    r8 = M.find_attention(M.create_model(host, "se", attn_kwargs={"reduction": 8}))
    if host == "effnet_b0":  # a quarter of the block's input width: hidden = C_in // r
        assert [m.fc1.out_channels for _, m in r8] == [max(1, 4 * h // 8) for h in hidden]
    else:  # make_divisible(C // r, 8)
        assert [m.fc1.out_channels for _, m in r8] == [M.make_divisible(c // 8, 8) for c in channels]


@pytest.mark.parametrize("host", HOSTS)
def test_none_removes_and_other_modules_replace_the_se(host: str) -> None:
    params, _, se = REFERENCE[host]
    channels, _ = SE_WIDTHS[host]
    assert M.find_attention(M.create_model(host, "none")) == []
    ca = M.find_attention(M.create_model(host, "ca"))
    assert [type(m).__name__ for _, m in ca] == ["CoordAtt"] * len(channels)
    assert n_params(M.create_model(host, "ca")) == params - se + sum(ca_params(c) for c in channels)
    stage = M.create_model(host, "bam")  # a stage module: the host's SE is left out
    assert [n for n, _ in M.find_attention(stage)] == [f"stage_attn.{k}" for k in stage.stage_attn]


def test_ca_swap_in_effnet_b0_is_the_papers_5_4m() -> None:
    rows = profile_rows("effnet_b0", ["se", "ca"])
    assert rows["ca"]["params"] == 5_381_804 and rows["ca"]["macs"] == 394_014_048
    assert (rows["ca"]["reduction"], rows["ca"]["reduction_rule"]) == (32, "default")


def test_mbv3_large_ca_at_its_own_r_removes_parameters() -> None:
    rows = profile_rows("mbv3_large", ["se", "ca"])
    assert (
        rows["ca"]["params"] - rows["se"]["params"]
        == sum(ca_params(c) for c in SE_WIDTHS["mbv3_large"][0]) - (REFERENCE["mbv3_large"][2])
    )
    assert rows["ca"]["params"] < rows["se"]["params"] - 1_000_000


# ----------------------------------------------------------------------------- the reduction and its rule


@pytest.mark.parametrize("host", HOSTS)
def test_match_params_picks_the_closest_r(host: str) -> None:
    channels, _ = SE_WIDTHS[host]
    target = REFERENCE[host][2]
    rows = profile_rows(host, ["se", "ca", "cbam_s"], match_params=True)
    assert (rows["se"]["reduction"], rows["se"]["reduction_rule"]) == (4, "native")
    r = int(rows["ca"]["reduction"])
    assert rows["ca"]["reduction_rule"] == "matched"
    assert rows["ca"]["attn_params"] == sum(ca_params(c, r) for c in channels)
    # brute force over every r with the paper's formula: none is closer, and no smaller r is as close
    gaps = {k: abs(sum(ca_params(c, k) for c in channels) - target) for k in range(1, 257)}
    assert gaps[r] == min(gaps.values()) and all(gaps[k] > gaps[r] for k in range(1, r))
    # a module whose parameters do not depend on r keeps its own defaults
    assert rows["cbam_s"]["reduction_rule"] == "default"


def test_rule_column_for_each_way_of_choosing_r() -> None:
    spec = ProfileSpec(modules=("se", "ca", "bam"), backbone="effnet_b0")
    assert [astuple(reduction_for(spec, n)) for n in ("none", "se", "ca", "bam")] == [
        (None, ""),
        (4, "native"),
        (32, "default"),
        (16, "default"),
    ]
    given = ProfileSpec(modules=("se", "ca"), backbone="effnet_b0", reduction=8)
    assert [astuple(reduction_for(given, n)) for n in ("se", "ca")] == [(8, "native"), (8, "given")]
    on_mbv2 = ProfileSpec(modules=("se",), backbone="mbv2")
    assert reduction_for(on_mbv2, "se").rule == "default"  # a host without an SE of its own
    matched = ProfileSpec(modules=("bam",), backbone="effnet_b0", match_params=True)
    assert reduction_for(matched, "bam").rule == "default"  # stage modules do not sit in the SE's slots


def test_rows_written_before_the_rule_column_keep_their_configuration() -> None:
    """A results file from before ``reduction_rule``: its r tells the rule (the module's own r: default; another:
    given), so sweep --resume and compare match its rows with today's."""
    from attnbench.cost.sweep import legacy_rule, row_key

    base = {
        "backbone": "mbv2",
        "position": "after_dw",
        "width": "1.0",
        "input_size": "224",
        "batch": "1",
        "device": "cpu",
        "dtype": "float32",
        "threads": "1",
        "build": "eager",
        "quantize": "none",
        "mode": "inference",
        "head": "",
        "head_classes": "",
        "output_stride": "",
        "head_slots": "",
    }
    old = {**base, "module": "se", "reduction": "16", "reduction_rule": ""}
    assert legacy_rule(old) == "default" and legacy_rule({**old, "reduction": "24"}) == "given"
    assert legacy_rule({**base, "module": "none", "reduction": ""}) == ""
    assert row_key(old) == row_key({**old, "reduction_rule": "default"}) != row_key({**old, "reduction_rule": "given"})


def test_match_params_is_refused_where_it_cannot_apply() -> None:
    with pytest.raises(UsageError, match="give one of them"):
        ProfileSpec(modules=("ca",), backbone="effnet_b0", reduction=8, match_params=True).validate()
    with pytest.raises(UsageError, match="'mbv2' has none.*effnet_b0"):
        ProfileSpec(modules=("ca",), backbone="mbv2", match_params=True).validate()
    code, out, err = run_cli("profile", "-m", "ca", "-b", "mbv2", "--match-params", "--no-latency")
    assert code == 2 and out == "" and err.startswith("Error: --match-params matches") and "--reduction" not in err


def test_cli_profile_states_each_modules_reduction() -> None:
    code, out, _ = run_cli("profile", "-m", "none,se,ca", "-b", "effnet_b0", "--no-latency", "--format", "csv")
    assert code == 0
    import csv
    import io

    rows = {r["module"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["se"]["params"] == "5288548" and rows["ca"]["params"] == "5381804"
    assert [(rows[m]["reduction"], rows[m]["reduction_rule"]) for m in ("none", "se", "ca")] == [
        ("", ""),
        ("4", "native"),
        ("32", "default"),
    ]
    code, out, _ = run_cli("profile", "-m", "se,ca", "-b", "mbv3_large", "--no-latency", "--match-params")
    assert code == 0 and "4 native" in out and "6 matched" in out


# --------------------------------------------------------------------------------- any model: find and swap


def test_find_se_like_by_class_on_our_hosts() -> None:
    model = M.create_model("effnet_b0", "se")
    found = swap.find_se_like(model)
    assert [n for n, _ in found] == [n for n, _ in M.find_attention(model)]
    assert {swap.class_path(m) for _, m in found} == {"attnbench.modules.se.SqueezeExcite"}
    assert swap.find_se_like(model, "features.stage2.*.attn") == found[1:3]


def test_find_se_like_knows_torchvision_and_timm_classes_by_name() -> None:
    """Classes named as torchvision's and timm's are found without importing either (their paths were checked
    against torchvision 0.29.1 and timm 1.0.31, where each resolves to the class of that name)."""

    def fake(path: str) -> type[nn.Module]:
        module, _, name = path.rpartition(".")
        cls = type(name, (nn.Module,), {"forward": lambda self, x: x * 1.0})
        cls.__module__, cls.__qualname__ = module, name
        return cls

    classes = [fake(p) for p in (*swap.SE_CLASSES[:4], *swap.GATE_CLASSES)]
    net = nn.Sequential(*(nn.Sequential(nn.Conv2d(4, 4, 1), cls()) for cls in classes), fake("timm.other.Gate")())
    found = swap.find_se_like(net)
    assert [n for n, _ in found] == [f"{i}.1" for i in range(len(classes))]
    assert [swap.is_se(m) for _, m in found] == [True] * 4 + [False] * len(swap.GATE_CLASSES)


def test_swap_attention_on_our_own_network() -> None:
    channels, _ = SE_WIDTHS["mbv3_small"]
    model = M.create_model("mbv3_small", "se")
    result = attnbench.swap_attention(model, "ca")
    assert result.channels == tuple(channels) and result.module == "ca"
    assert (result.reduction, result.reduction_rule) == (32, "default")
    assert result.params_before == REFERENCE["mbv3_small"][0]
    assert (
        result.params_after
        == n_params(model)
        == result.params_before - REFERENCE["mbv3_small"][2] + sum(ca_params(c) for c in channels)
    )
    assert [type(m).__name__ for _, m in M.find_attention(model)] == ["CoordAtt"] * len(channels)
    model(torch.randn(1, 3, 64, 64))
    attnbench.swap_attention(model, "none")
    assert M.find_attention(model) == [] and n_params(model) == REFERENCE["mbv3_small"][0] - REFERENCE["mbv3_small"][2]


def test_swap_attention_matches_the_replaced_parameters() -> None:
    model = M.create_model("effnet_b0", "se")
    result = attnbench.swap_attention(model, "ca", match_params=True)
    channels, _ = SE_WIDTHS["effnet_b0"]
    gaps = {k: abs(sum(ca_params(c, k) for c in channels) - REFERENCE["effnet_b0"][2]) for k in range(1, 257)}
    assert result.reduction_rule == "matched" and gaps[result.reduction] == min(gaps.values())
    with pytest.raises(UsageError, match="not both"):
        attnbench.swap_attention(model, "ca", reduction=8, match_params=True)
    with pytest.raises(UsageError, match="no module of the model matches 'nowhere'"):
        attnbench.swap_attention(model, "ca", pattern="nowhere")


def test_a_slot_must_keep_its_input_shape() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Conv2d(8, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(UsageError, match="1 maps .* to .*keep"):
        attnbench.swap_attention(net, "se", pattern="1")


# -------------------------------------------------------------------------- any model: profiled as a backbone


def test_plugin_model_profiled_like_a_builtin_backbone() -> None:
    from plugins import se_net  # the plugin's own classes: attnbench did not build its gates in

    ref = f"{PLUGIN}:make"
    rows = profile_rows(ref, ["se", "ca"])
    widths = [2 * c for c in (8, *se_net.WIDTHS[:-1])]
    plain = n_params(se_net.make_plain())
    assert rows["none"]["params"] == plain and rows["none"]["attn_count"] == 0
    assert rows["ca"]["params"] == plain + sum(ca_params(c) for c in widths) and rows["ca"]["attn_count"] == 3
    # its gates are not of an SE class attnbench knows, so 'se' replaces them with attnbench's SE (r = 16)
    assert rows["se"]["params"] == plain + sum(se_params(c, c // 16) for c in widths)
    assert {r["backbone"] for r in rows.values()} == {ref} and rows["ca"]["position"] == swap.SLOT
    assert rows["ca"]["attn_macs"] > 0 and rows["ca"]["attn_elementwise_ops"] > 0  # ops found by the slots' names
    assert M.BACKBONES.get(ref).meta["own_attention"] == "3 × Gate"


def test_plugin_model_with_se_keeps_it_for_se() -> None:
    from plugins import se_net

    ref = f"{PLUGIN}:make_se"
    rows = profile_rows(ref, ["se", "ca"], match_params=True)
    assert rows["se"]["params"] == n_params(se_net.make_se())
    assert pd.isna(rows["se"]["reduction"]) and rows["se"]["reduction_rule"] == "native"  # the model does not say
    assert rows["ca"]["reduction_rule"] == "matched"


def test_register_backbone_with_a_pattern() -> None:
    from plugins import se_net

    name = attnbench.register_backbone(lambda: se_net.Net(num_classes=10), "python:se_net_10", "blocks.*.gate")
    rows = profile_rows(name, ["none", "ca"], num_classes=10)
    assert rows["ca"]["attn_count"] == 3 and rows["none"]["params"] == n_params(se_net.Net(10, gate=None))
    by_function = profile_rows(se_net.make, ["ca"])  # a function given as the backbone is registered by its name
    assert set(by_function["ca"]["backbone"].split(":")) == {"python", "plugins.se_net.make"}
    assert by_function["ca"]["params"] == profile_rows(f"{PLUGIN}:make", ["ca"])["ca"]["params"]


def test_plugin_model_errors_are_one_line() -> None:
    for factory, expected in (
        ("make_plain", "has no module of a known SE-like class"),
        ("nope", "defines no function 'nope'"),
    ):
        code, out, err = run_cli("profile", "-m", "ca", "-b", f"{PLUGIN}:{factory}", "--no-latency")
        assert code == 2 and out == "" and expected in err and len(err.strip().splitlines()) == 2, err
    code, _, err = run_cli("profile", "-m", "ca", "-b", f"{PLUGIN}:make", "--width", "0.5", "--no-latency")
    assert code == 2 and "outside 1.0-1.0" in err
    code, _, err = run_cli("profile", "-m", "bam", "-b", f"{PLUGIN}:make", "--no-latency")
    assert code == 1 and "stage slots" in err


# --------------------------------------------------------------------------------------- timm and torchvision


def _imports(package: str) -> str | None:
    """``None`` when ``package`` imports, else why not."""
    try:
        __import__(package)
    except Exception as exc:  # torchvision's C library may fail to load beside a CPU torch: not only ImportError
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize(("package", "model"), [("timm", "efficientnet_b0"), ("torchvision", "efficientnet_b0")])
def test_package_backbone_where_it_imports(package: str, model: str) -> None:
    why = _imports(package)
    if why is not None:
        pytest.skip(f"{package} does not import here ({why}); the one-line error is tested instead")
    rows = profile_rows(f"{package}:{model}", ["se", "ca"])
    assert rows["se"]["params"] == REFERENCE["effnet_b0"][0] and rows["se"]["reduction_rule"] == "native"
    assert rows["ca"]["attn_count"] == 16


@pytest.mark.parametrize("package", ["timm", "torchvision"])
def test_package_backbone_error_names_the_reason(package: str) -> None:
    why = _imports(package)
    if why is None:
        pytest.skip(f"{package} imports here; the backbone itself is tested")
    code, out, err = run_cli("profile", "-m", "ca", "-b", f"{package}:efficientnet_b0", "--no-latency")
    first = err.splitlines()[0]
    assert code == 2 and out == ""
    assert first.startswith(f"Error: backbone '{package}:efficientnet_b0' needs {package}, which does not import")
    assert why.split(":")[0] in first
