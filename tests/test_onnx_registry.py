"""The exporter's translation table built once per process: the same table for every export inside ``reused()``,
torch as it was outside it, nothing replaced where torch has no such hook, and the same ONNX file either way."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from attnbench.runtimes import onnx_registry

_registration = pytest.importorskip("torch.onnx._internal.exporter._registration")


class _Counting:
    """A registry class whose table builder counts its calls."""

    calls: list[tuple[Any, ...]] = []

    @classmethod
    def from_torchlib(cls, opset_version: int = 18) -> object:
        cls.calls.append((opset_version,))
        return object()


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[_Counting]:
    monkeypatch.setattr(_registration, "ONNXRegistry", _Counting)
    monkeypatch.setattr(onnx_registry, "_TABLES", {})
    monkeypatch.setattr(_Counting, "calls", [])
    return _Counting


def test_one_table_per_opset_inside_and_the_builder_restored_after(counting: type[_Counting]) -> None:
    original = vars(counting)["from_torchlib"]
    with onnx_registry.reused():
        first = counting().from_torchlib(opset_version=18)  # as torch.onnx.export calls it
        assert counting.from_torchlib(opset_version=18) is first
        with onnx_registry.reused():  # nested: the same table, not a second layer
            assert counting.from_torchlib(opset_version=18) is first
        other = counting.from_torchlib(opset_version=20)
    assert other is not first and counting.calls == [(18,), (20,)]
    assert vars(counting)["from_torchlib"] is original
    assert counting.from_torchlib(opset_version=18) is not first  # outside: torch's own behaviour again


def test_the_builder_is_restored_when_the_export_fails(counting: type[_Counting]) -> None:
    original = vars(counting)["from_torchlib"]
    with pytest.raises(RuntimeError, match="exporter refused"), onnx_registry.reused():
        raise RuntimeError("exporter refused")
    assert vars(counting)["from_torchlib"] is original


def test_a_torch_without_the_hook_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other:  # another torch: the builder is a plain function, or missing
        def from_torchlib(self) -> str:
            return "own"

    own = vars(Other)["from_torchlib"]
    monkeypatch.setattr(_registration, "ONNXRegistry", Other)
    with onnx_registry.reused():
        assert vars(Other)["from_torchlib"] is own and Other().from_torchlib() == "own"
    monkeypatch.delattr(_registration, "ONNXRegistry")
    with onnx_registry.reused():
        pass


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()


@pytest.mark.slow  # three small ONNX exports
def test_exports_share_one_table_and_write_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxscript")
    from attnbench.runtimes import Request, onnx_export

    real = vars(_registration.ONNXRegistry)["from_torchlib"]
    built: list[int] = []

    def counted(cls: type, *args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real.__func__(cls, *args, **kwargs)

    monkeypatch.setattr(_registration.ONNXRegistry, "from_torchlib", classmethod(counted))
    monkeypatch.setattr(onnx_registry, "_TABLES", {})
    x = torch.zeros(1, 3, 8, 8)

    def digest(key: str) -> str:
        exported = onnx_export.export(_tiny(), x, Request(key=key, workdir=tmp_path))
        return hashlib.sha256(exported.path.read_bytes()).hexdigest()

    shared = [digest("a"), digest("b")]
    assert built == [1]  # the second export took the first one's table
    monkeypatch.setattr(onnx_export, "reused_registry", contextlib.nullcontext)
    assert digest("c") == shared[0] == shared[1] and built == [1, 1]  # its own table: the same file
