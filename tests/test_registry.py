"""The registry: explicit keys, duplicates raise, unknown names list the choices and the closest match."""

from __future__ import annotations

import re

import pytest
from torch import nn

import attnbench
from attnbench import errors
from attnbench.modules import (
    ATTENTION,
    BACKBONES,
    DuplicateNameError,
    Registry,
    UnknownNameError,
    create_attention,
    create_model,
    find_attention,
)

KEY = re.compile(r"[a-z][a-z0-9_]*")

BUILTIN_ATTENTION = {
    "none",
    "se",
    "cbam",
    "cbam_c",
    "cbam_s",
    "bam",
    "bam_mul",
    "ca",
    "ca_x",
    "ca_y",
    "ca_relu6",
    "ca_silu",
    "eca",
    "simam",
    "gc",
    "triplet",
}
BUILTIN_BACKBONES = {"mbv2", "mnext", "r18", "r50", "mbv3_large", "mbv3_small", "effnet_b0"}


def f1(channels: int) -> nn.Module:
    return nn.Identity()


def f2(channels: int) -> nn.Module:
    return nn.Identity()


@pytest.fixture
def reg() -> Registry:
    r = Registry("thing")
    for name in ("alpha", "beta", "gamma"):
        r.register(name, f1, paper=f"paper {name}")
    return r


# ------------------------------------------------------------------------------------------ registration


def test_register_direct_and_as_decorator() -> None:
    r = Registry("thing")
    assert r.register("a", f1, paper="p", arxiv="1234.56789") is f1

    @r.register("b", paper="q")
    class B(nn.Module):
        pass

    assert r.get("b").fn is B  # the decorator returns the class unchanged
    assert r.names() == ["a", "b"]
    assert r.get("a").meta == {"paper": "p", "arxiv": "1234.56789"}
    assert r.get("a").name == "a"
    assert "a" in r and "c" not in r
    assert len(r) == 2
    assert [e.name for e in r] == ["a", "b"]


def test_duplicate_name_raises_and_keeps_the_first(reg: Registry) -> None:
    with pytest.raises(DuplicateNameError, match="thing 'alpha' is already registered"):
        reg.register("alpha", f2)
    with pytest.raises(DuplicateNameError):

        @reg.register("beta")
        def other(channels: int) -> nn.Module:
            return nn.Identity()

    assert issubclass(DuplicateNameError, ValueError)
    assert reg.get("alpha").fn is f1
    assert reg.get("beta").fn is f1
    assert reg.names() == ["alpha", "beta", "gamma"]


def test_builtin_registries_refuse_duplicates() -> None:
    with pytest.raises(DuplicateNameError):
        ATTENTION.register("ca", f1)
    with pytest.raises(DuplicateNameError):
        BACKBONES.register("mbv2", f1)
    assert ATTENTION.get("ca").fn is not f1


def test_unknown_name_lists_closest_match_and_choices(reg: Registry) -> None:
    with pytest.raises(UnknownNameError) as info:
        reg.get("alpah")
    exc = info.value
    assert str(exc) == "unknown thing 'alpah'. Did you mean 'alpha'? Choose from: alpha, beta, gamma."
    assert (exc.kind, exc.name, exc.choices) == ("thing", "alpah", ["alpha", "beta", "gamma"])
    assert isinstance(exc, KeyError)


def test_unknown_name_without_a_close_match(reg: Registry) -> None:
    with pytest.raises(UnknownNameError) as info:
        reg.get("zzzzzz")
    assert str(info.value) == "unknown thing 'zzzzzz'. Choose from: alpha, beta, gamma."


def test_unknown_builtin_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        BACKBONES.get("mbv3")
    choices = ", ".join(BACKBONES.names())
    assert str(info.value) == f"unknown backbone 'mbv3'. Did you mean 'mbv2'? Choose from: {choices}."
    with pytest.raises(UnknownNameError) as info:
        ATTENTION.get("cbma")
    msg = str(info.value)
    assert "Did you mean 'cbam'?" in msg
    assert msg.endswith(f"Choose from: {', '.join(ATTENTION.names())}.")


def test_api_maps_unknown_names_to_a_usage_error() -> None:
    with pytest.raises(errors.UnknownNameError, match="Did you mean 'mbv2'") as info:
        attnbench.create_model("mbv3")
    assert info.value.exit_code == 2
    with pytest.raises(errors.UnknownNameError, match="Did you mean 'se'"):
        attnbench.create_attention("sse", 16)


@pytest.mark.parametrize("bad", ["MyAtt", "my att", "My_att", "1abc", "_x", "my-att", "", "ca.x", "café", " ca"])
def test_key_pattern_is_enforced(reg: Registry, bad: str) -> None:
    with pytest.raises(ValueError, match="must be lowercase snake_case"):
        reg.register(bad, f2)
    assert reg.names() == ["alpha", "beta", "gamma"]


def test_key_with_trailing_newline_is_rejected(reg: Registry) -> None:
    with pytest.raises(ValueError):
        reg.register("ca2\n", f2)


def test_unregister(reg: Registry) -> None:
    reg.unregister("beta")
    assert reg.names() == ["alpha", "gamma"]
    with pytest.raises(UnknownNameError):
        reg.unregister("beta")
    reg.register("beta", f2)  # the name is free again
    assert reg.names() == ["alpha", "gamma", "beta"]


# ------------------------------------------------------------------------------------------------- names()


@pytest.fixture
def attn_like() -> Registry:
    r = Registry("attention module")
    for name in ("ca", "ca_x", "ca_y", "se", "cbam"):
        r.register(name, f1)
    return r


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (None, None, ["ca", "ca_x", "ca_y", "se", "cbam"]),
        ("ca*", None, ["ca", "ca_x", "ca_y"]),
        (["ca_*", "se"], None, ["ca_x", "ca_y", "se"]),
        (["se", "ca_?"], None, ["ca_x", "ca_y", "se"]),  # registration order, not pattern order
        (None, "ca_*", ["ca", "se", "cbam"]),
        ("c*", ["ca_x"], ["ca", "ca_y", "cbam"]),
        ("c*", ["ca*", "cb*"], []),
        ("nothing*", None, []),
        ([], None, []),
    ],
)
def test_names_include_exclude(attn_like: Registry, include, exclude, expected: list[str]) -> None:
    assert attn_like.names(include=include, exclude=exclude) == expected


def test_builtin_names_filter() -> None:
    assert set(ATTENTION.names(include="cbam*")) == {"cbam", "cbam_c", "cbam_s"}
    assert "none" not in ATTENTION.names(exclude="none")
    assert ATTENTION.names(exclude="*") == []


# ------------------------------------------------------------------------------------- the built-in entries


def test_builtins_are_registered() -> None:
    assert BUILTIN_ATTENTION <= set(ATTENTION.names())
    assert BUILTIN_BACKBONES <= set(BACKBONES.names())
    assert ATTENTION.names()[0] == "none"


@pytest.mark.parametrize(
    ("registry", "name"),
    [(ATTENTION, n) for n in ATTENTION.names()] + [(BACKBONES, n) for n in BACKBONES.names()],
    ids=[f"attention-{n}" for n in ATTENTION.names()] + [f"backbone-{n}" for n in BACKBONES.names()],
)
def test_entry_metadata(registry: Registry, name: str) -> None:
    entry = registry.get(name)
    assert KEY.fullmatch(name), name
    assert entry.name == name
    assert isinstance(entry.meta.get("paper"), str) and entry.meta["paper"].strip(), f"{name} has no paper"
    if name == "none":
        assert entry.meta.get("baseline") is True
        return
    if entry.meta.get("arxiv", "") == "":  # a paper without an arXiv version (SimAM: ICML only) names its page
        assert str(entry.meta.get("url", "")).startswith("https://"), f"{name}: no arxiv id and no url"
    else:
        assert re.fullmatch(r"\d{4}\.\d{4,5}", str(entry.meta["arxiv"])), f"{name}: bad arxiv id"
    if registry is ATTENTION:
        assert entry.meta.get("hook") in ("block", "stage")


def test_none_is_a_registered_entry() -> None:
    assert "none" in ATTENTION
    assert isinstance(create_attention("none", 32), nn.Identity)
    assert isinstance(attnbench.create_attention("none", 32), nn.Identity)


@pytest.mark.parametrize("backbone", BACKBONES.names())
def test_none_builds_a_model_without_attention(backbone: str) -> None:
    lo, _ = BACKBONES.get(backbone).meta["width_range"]
    model = create_model(backbone, "none", width=lo, num_classes=10)
    assert find_attention(model) == []
    baseline = create_model(backbone, None, width=lo, num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in baseline.parameters())
    with_se = create_model(backbone, "se", width=lo, num_classes=10)
    assert len(find_attention(with_se)) > 0


def test_list_functions_return_plain_keys_and_values() -> None:
    backbones = {b["name"]: b for b in attnbench.list_backbones()}
    assert set(backbones) >= BUILTIN_BACKBONES
    mbv2 = backbones["mbv2"]
    keys = ["name", "paper", "arxiv", "positions", "stage_slot", "width_min", "width_max", "own_attention"]
    assert list(mbv2) == keys
    assert mbv2["own_attention"] == "" and backbones["effnet_b0"]["own_attention"].startswith("SE in all 16 blocks")
    assert mbv2["positions"][0] == "after_dw" and isinstance(mbv2["positions"], list)
    assert (mbv2["width_min"], mbv2["width_max"]) == BACKBONES.get("mbv2").meta["width_range"]
    attention = {a["name"]: a for a in attnbench.list_attention()}
    assert set(attention) >= BUILTIN_ATTENTION
    assert list(attention["ca"]) == ["name", "paper", "arxiv", "hook", "variant", "defaults"]
    assert attention["bam"]["hook"] == "stage" and attention["ca"]["hook"] == "block"
    assert attention["ca"]["defaults"]["reduction"] == 32 and attention["ca"]["defaults"]["act_layer"] == "Hardswish"
