"""Load the Coordinate Attention authors' released MobileNetV2+CA checkpoint (``mbv2_ca.pth``) into our ``mbv2``.

Reference: houqb/CoordAttention ``mbv2_ca.py`` (commit 227af76), whose layers are numbered, not named. Key layout
of their checkpoint, and where each key goes in ours (``attnbench.modules.backbones.mobilenetv2``):

- ``features.0.{0,1}`` (stem conv, BN) → ``features.stem.{0,1}``.
- ``features.1.conv.{0,1,3,4}`` (the t = 1 block: dw conv, BN, [ReLU6], pw conv, BN) →
  ``features.stage1.0.dw.{0,1}``, ``.project.{0,1}``.
- ``features.i.conv.{0,1,3,4,6,7,8}`` for the i-th block, i ≥ 2, counted over the blocks in order (pw conv, BN,
  [ReLU6], dw conv, BN, [ReLU6], CoordAtt, pw-linear conv, BN) → ``features.stage{s}.{j}.expand.{0,1}``,
  ``.dw.{0,1}``, ``.attn``, ``.project.{0,1}``. Inside the CoordAtt, ``conv1``/``bn1`` keep their names, ``conv2``
  (the height gate, applied to the strip pooled along W) becomes ``conv_h`` and ``conv3`` (the width gate) ``conv_w``.
- ``conv.{0,1}`` (head 1×1 conv, BN) → ``features.head.{0,1}``; ``classifier.1`` → ``classifier.1``.

The mapping is derived from the model it loads into, so any width whose shapes match the checkpoint loads (the
released file is width 1.0). Checkpoints saved from ``nn.DataParallel`` (``module.`` prefixes) or wrapped as
``{"state_dict": ...}`` / ``{"model": ...}`` are unwrapped. A BN's ``num_batches_tracked`` counter missing from the
checkpoint (files saved before PyTorch 0.4.1) keeps the model's value; it does not enter the forward pass in eval
mode. Files are read with ``torch.load(..., weights_only=True)`` only: a pickle that needs arbitrary Python objects is
refused, never retried unsafely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointFileError, UnsafeCheckpointError, WeightsError

__all__ = [
    "CheckpointFileError",
    "UnsafeCheckpointError",
    "WeightsError",
    "ca_checkpoint_key_map",
    "load_ca_checkpoint",
    "map_ca_checkpoint_keys",
]

_WRAPPER_KEYS = ("state_dict", "model")
"""Keys under which training scripts nest the state dict, tried in this order."""

_LIST_LIMIT = 12
"""Most module groups listed per kind of problem in an error message; the rest are counted."""

_SHAPE_LIMIT = 4
"""Most shape mismatches spelled out in an error message; the rest are counted."""

_OPTIONAL_SUFFIX = ".num_batches_tracked"


# -- key mapping -------------------------------------------------------------------------------------------------

_CA_NAMES = {"conv1": "conv1", "bn1": "bn1", "conv_h": "conv2", "conv_w": "conv3"}
"""Our CoordAtt layer names → theirs."""


def _check_model(model: nn.Module) -> None:
    from ..modules.backbones.mobilenetv2 import MobileNetV2

    if not isinstance(model, MobileNetV2):
        raise WeightsError(
            f"the mbv2_ca.pth checkpoint fits only MobileNetV2, not {type(model).__name__}; "
            "build the model with backbone 'mbv2' and attention 'ca'."
        )
    if len(model.stage_attn) > 0:
        raise WeightsError(
            "the mbv2_ca.pth checkpoint has no stage-boundary attention; "
            "build mbv2 with attention 'ca' at its default position (after_dw)."
        )
    partial = sorted({d for block in _blocks(model) if (d := getattr(block.attn, "directions", "hw")) != "hw"})
    if partial:
        raise WeightsError(
            f"the mbv2_ca.pth checkpoint has CA with both gates (H and W), but this model's CA has only "
            f"'{partial[0]}'; build mbv2 with attention 'ca', not 'ca_x' or 'ca_y'."
        )
    positions = {getattr(block, "attn_position", "after_dw") for block in _blocks(model)}
    if positions != {"after_dw"}:
        raise WeightsError(
            f"the mbv2_ca.pth checkpoint has CA after the depthwise conv, but this model puts attention at "
            f"{', '.join(sorted(positions))}; build mbv2 with attention 'ca' at position after_dw (the default)."
        )


def _blocks(model: nn.Module) -> list[nn.Module]:
    """The inverted residual blocks in forward order (stage1.0, stage2.0, stage2.1, ...)."""
    features = model.get_submodule("features")
    stages = [stage for name, stage in features.named_children() if name.startswith("stage")]
    return [block for stage in stages for block in stage.children()]


def _their_key(ours: str, blocks: dict[str, tuple[int, bool]]) -> str | None:
    """The checkpoint key for one of our state-dict keys, or ``None`` when their layout has no such key.

    Args:
        ours: a key of our state dict.
        blocks: ``features.stage{s}.{j}`` → (their block number i, whether the block has an expansion conv).
    """
    parts = ours.split(".")
    if parts[0] == "classifier":
        return ours
    if parts[0] != "features" or len(parts) < 3:
        return None
    if parts[1] == "stem":
        return ".".join(["features", "0", *parts[2:]])
    if parts[1] == "head":
        return ".".join(["conv", *parts[2:]])
    block = blocks.get(".".join(parts[:3]))
    if block is None or len(parts) < 5:
        return None
    i, has_expand = block
    part, rest = parts[3], parts[4:]
    if part == "attn":
        if not has_expand or rest[0] not in _CA_NAMES:
            return None
        return ".".join(["features", str(i), "conv", "6", _CA_NAMES[rest[0]], *rest[1:]])
    # Sequential indices: with expansion pw(0) BN(1) ReLU6 dw(3) BN(4) ReLU6 CA(6) pw-linear(7) BN(8);
    # the t = 1 block dw(0) BN(1) ReLU6 pw-linear(3) BN(4).
    base = {"expand": 0, "dw": 3, "project": 7} if has_expand else {"dw": 0, "project": 3}
    if part not in base or rest[0] not in ("0", "1"):
        return None
    return ".".join(["features", str(i), "conv", str(base[part] + int(rest[0])), *rest[1:]])


def ca_checkpoint_key_map(model: nn.Module) -> dict[str, str]:
    """Our state-dict key → the ``mbv2_ca.py`` checkpoint key, for every key of ``model``'s state dict.

    Raises:
        WeightsError: ``model`` is not a MobileNetV2 with in-block attention after the depthwise conv, or has a
            state-dict key with no counterpart in the authors' layout (a different attention module).
    """
    _check_model(model)
    blocks: dict[str, tuple[int, bool]] = {}
    for name, stage in model.get_submodule("features").named_children():
        if name.startswith("stage"):
            for j, block in enumerate(stage.children()):
                expands = not isinstance(getattr(block, "expand", None), nn.Identity)
                blocks[f"features.{name}.{j}"] = (len(blocks) + 1, expands)
    mapping: dict[str, str] = {}
    foreign: list[str] = []
    for ours in model.state_dict():
        theirs = _their_key(ours, blocks)
        if theirs is None:
            foreign.append(ours)
        else:
            mapping[ours] = theirs
    if foreign:
        raise WeightsError(
            f"the model has {len(foreign)} state-dict key(s) with no counterpart in the mbv2_ca.pth layout "
            f"({_group_keys(foreign)}); build mbv2 with attention 'ca' to load this checkpoint."
        )
    return mapping


# -- unwrapping and checking -------------------------------------------------------------------------------------


def _unwrap(state: Mapping[str, Any]) -> dict[str, Any]:
    """The flat state dict inside a training checkpoint, with DataParallel's ``module.`` prefixes removed."""
    inner: Mapping[str, Any] = state
    for _ in range(2):  # {"state_dict": {"model": ...}} occurs in the wild; deeper nesting does not
        nested = next((inner[k] for k in _WRAPPER_KEYS if isinstance(inner.get(k), Mapping)), None)
        if nested is None or any(isinstance(v, torch.Tensor) for v in inner.values()):
            break
        inner = nested
    flat = {str(k): v for k, v in inner.items() if isinstance(v, torch.Tensor)}
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in flat.items()}


def _group_keys(keys: list[str], limit: int = _LIST_LIMIT) -> str:
    """``a.b.{weight,bias}, c.d.weight, ... and N more`` - every key named once, grouped by module."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        head, _, leaf = key.rpartition(".")
        groups.setdefault(head, []).append(leaf)
    shown = []
    for head, leaves in list(groups.items())[:limit]:
        tail = leaves[0] if len(leaves) == 1 else "{" + ",".join(leaves) + "}"
        shown.append(f"{head}.{tail}" if head else tail)
    more = len(groups) - limit
    if more > 0:
        hidden = sum(len(v) for v in list(groups.values())[limit:])
        shown.append(f"... and {hidden} more key(s) in {more} module(s)")
    return ", ".join(shown)


def _shape(t: torch.Tensor) -> str:
    return "(" + ",".join(str(d) for d in t.shape) + ")"


def map_ca_checkpoint_keys(state: Mapping[str, Any], model: nn.Module) -> dict[str, torch.Tensor]:
    """The authors' ``mbv2_ca.pth`` state dict re-keyed for ``model``, ready for ``load_state_dict(strict=True)``.

    Args:
        state: the loaded checkpoint: a state dict in the ``mbv2_ca.py`` layout, possibly with ``module.``
            prefixes or wrapped as ``{"state_dict": ...}`` / ``{"model": ...}``. Non-tensor entries are ignored.
        model: our ``create_model("mbv2", "ca", ...)``, any width whose shapes match the checkpoint.

    Returns:
        Our key → tensor, for every key of ``model.state_dict()``: the checkpoint's tensor, or for a BN
        ``num_batches_tracked`` that the checkpoint lacks, the model's own counter.

    Raises:
        WeightsError: the model does not fit the layout, or the checkpoint has missing, unexpected or mis-shaped
            keys; one line lists every missing and unexpected key (in the checkpoint's naming, grouped by module)
            and the first shape mismatches with both shapes.
    """
    if not isinstance(state, Mapping):
        raise WeightsError(
            f"the checkpoint holds a {type(state).__name__}, not a state dict; "
            "pass the mbv2_ca.pth file (a dict of tensors)."
        )
    mapping = ca_checkpoint_key_map(model)
    ckpt = _unwrap(state)
    if not ckpt:
        raise WeightsError("the checkpoint holds no tensors; pass the mbv2_ca.pth file (a dict of tensors).")
    ours_state = model.state_dict()
    wanted = set(mapping.values())
    missing = [t for o, t in mapping.items() if t not in ckpt and not o.endswith(_OPTIONAL_SUFFIX)]
    unexpected = [k for k in ckpt if k not in wanted]
    mismatched = [
        f"{t} {_shape(ckpt[t])} vs model {o} {_shape(ours_state[o])}"
        for o, t in mapping.items()
        if t in ckpt and ckpt[t].shape != ours_state[o].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing: {_group_keys(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected: {_group_keys(unexpected)}")
        if mismatched:
            more = len(mismatched) - _SHAPE_LIMIT
            listed = "; ".join(mismatched[:_SHAPE_LIMIT]) + (f"; ... and {more} more" if more > 0 else "")
            problems.append(f"{len(mismatched)} with another shape: {listed}")
        matched = len(wanted & ckpt.keys())
        if matched < len(wanted) // 2:
            fix = "this file does not look like mbv2_ca.pth (the authors' MobileNetV2+CA); pass that checkpoint"
        elif mismatched:
            fix = "build the model as the checkpoint was (mbv2_ca.pth: width 1.0, 1000 classes, CA reduction 32)"
        else:
            fix = "pass an unmodified mbv2_ca.pth, or a model built as create_model('mbv2', 'ca')"
        raise WeightsError(f"checkpoint does not fit the model: {'; '.join(problems)}; {fix}.")
    return {o: ckpt[t] if t in ckpt else ours_state[o].clone() for o, t in mapping.items()}


# -- file loading ------------------------------------------------------------------------------------------------


def _read(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with every failure turned into a one-line ``CheckpointFileError``."""
    import io

    from ..io.reading import read_regular

    # Read as every input file is: a regular file only (a FIFO or a device is refused, never waited on).
    data = read_regular(path, f"checkpoint file {path}", "pass the path of mbv2_ca.pth.", error=CheckpointFileError)
    try:
        return torch.load(io.BytesIO(data or b""), map_location="cpu", weights_only=True)
    except OSError as e:
        raise CheckpointFileError(
            f"cannot read checkpoint {path}: {e.strerror or e}; check the path and its permissions."
        ) from e
    except Exception as e:  # torch.load raises RuntimeError, UnpicklingError, EOFError, KeyError, ... on bad files
        text = " ".join(str(e).split())
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            raise UnsafeCheckpointError(
                f"refusing to load {path}: it holds a pickled Python object ({found.group(1)}) that "
                "torch.load(weights_only=True) rejects as unsafe; re-save only the tensors, e.g. "
                "torch.save(model.state_dict(), path), from a source you trust."
            ) from e
        detail = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
        reason = (detail.group(1) if detail else text.split(". ")[0])[:160]
        what = f"{type(e).__name__}: {reason}" if reason else type(e).__name__
        raise CheckpointFileError(
            f"cannot read checkpoint {path}: the file is corrupt, truncated or not a PyTorch checkpoint ({what}); "
            "download mbv2_ca.pth again."
        ) from e


def load_ca_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load the authors' ``mbv2_ca.pth`` into ``model`` (our ``mbv2`` + ``ca``) in place.

    Args:
        model: built with ``create_model("mbv2", "ca", width=..., num_classes=...)``; the shapes must match the file.
        path: the checkpoint, read with ``torch.load(path, map_location="cpu", weights_only=True)``.

    Raises:
        CheckpointFileError: missing, unreadable, corrupt or truncated file, or one that holds no dict (exit 2).
        UnsafeCheckpointError: the file needs arbitrary pickled objects (a ``CheckpointFileError``, exit 2).
        WeightsError: the model is not mbv2 + ca, or keys are missing, unexpected or mis-shaped (exit 2).
    """
    path = Path(path)
    state = _read(path)
    if not isinstance(state, Mapping):
        raise CheckpointFileError(
            f"checkpoint {path} holds a {type(state).__name__}, not a state dict; pass the mbv2_ca.pth file."
        )
    model.load_state_dict(map_ca_checkpoint_keys(state, model), strict=True)
