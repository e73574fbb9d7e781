"""OpenVINO: the exported ONNX graph (``onnx_export``) compiled for OpenVINO's CPU plugin.

Threads are set explicitly (``INFERENCE_NUM_THREADS``), with the LATENCY hint (one stream) and a check that the
compiled model took the thread count. The inference precision is pinned to f32 (``INFERENCE_PRECISION_HINT``): on
CPUs with AVX512_BF16 or AMX the plugin would otherwise run float32 graphs in bfloat16, a different computation from
the one the row names. For ``--quantize int8`` OpenVINO runs the QDQ int8 ONNX file made by ONNX Runtime's quantizer
(``onnx_export.quantized``), so it needs the ``onnx`` extra too; NNCF is not used.
"""

from __future__ import annotations

from collections import Counter
from importlib.util import find_spec
from typing import Any

import torch
from torch import nn

from ..errors import ExportError
from .base import OpTally, Prepared, Request
from .onnx_export import EXPORT_PACKAGES, built, package_version, reason


class OpenVino:
    name = "openvino"
    extra = "openvino"
    devices = ("cpu",)
    quantizes = True

    def missing(self, quantize: str = "none") -> list[str]:
        need = ("openvino", *EXPORT_PACKAGES, *(("onnxruntime",) if quantize == "int8" else ()))
        return [p for p in need if find_spec(p) is None]

    def version(self) -> str:
        return package_version("openvino")

    def prepare(self, model: nn.Module, x: torch.Tensor, request: Request) -> Prepared:
        import openvino as ov

        exported = built(model, x, request)
        core = ov.Core()
        config = {
            "INFERENCE_NUM_THREADS": request.threads,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
        }
        try:
            compiled = core.compile_model(core.read_model(str(exported.path)), "CPU", config)
        except Exception as exc:  # OpenVINO raises its own types for a graph it cannot compile
            raise ExportError(f"OpenVINO could not compile the exported model: {reason(exc)}") from exc
        got = int(compiled.get_property("INFERENCE_NUM_THREADS"))
        if got != request.threads:
            raise RuntimeError(f"OpenVINO compiled the model for {got} threads, not the {request.threads} asked for.")
        timed, checked = compiled.create_infer_request(), compiled.create_infer_request()
        feed = {0: x.detach().cpu().numpy()}

        def run(t: torch.Tensor) -> torch.Tensor:
            out = checked.infer({0: t.detach().cpu().numpy()})
            return torch.from_numpy(next(iter(out.values())).copy())

        return Prepared(
            call=lambda: timed.infer(feed, share_inputs=True),
            run=run,
            graph=exported.graph,
            ops=executed(compiled, exported.attention_nodes),
        )


def executed(compiled: Any, attention_nodes: frozenset[str]) -> OpTally:
    """The attention ops of OpenVINO's runtime model (what its CPU plugin executes after fusing): an op is
    attention when one of the ONNX nodes it was made from is, and int8 when OpenVINO reports its
    ``runtimePrecision`` as i8 or u8 (a fused element-wise ``Subgraph`` reports the precision of its data)."""
    int8, floats = 0, Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str)
        if kind in ("Input", "Output", "Const"):
            continue
        names = set(info["originalLayersNames"].astype(str).split(","))
        if not names & attention_nodes:
            continue
        if info["runtimePrecision"].astype(str) in ("i8", "u8"):
            int8 += 1
        else:
            floats[kind] += 1
    return OpTally(int8=int8, float=sum(floats.values()), float_types=dict(sorted(floats.items())))


RUNTIME = OpenVino()
