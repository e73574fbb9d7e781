"""ONNX Runtime: the exported ONNX graph (``onnx_export``) run by an ``InferenceSession``.

``onnxruntime`` runs on the CPU execution provider, ``onnxruntime-cuda`` on the CUDA execution provider (the
``onnxruntime-gpu`` package); neither ever falls back to another provider. The session's thread pools are set
explicitly: ``intra_op_num_threads`` to the run's thread count, ``inter_op_num_threads`` to 1, sequential
execution. The timed call is ``session.run`` on the example input as a NumPy array (on CUDA this includes the
copies of input and output between host and device).
"""

from __future__ import annotations

from collections import Counter
from importlib.util import find_spec

import torch
from torch import nn

from ..errors import ExportError
from .base import OpTally, Prepared, Request
from .onnx_export import EXPORT_PACKAGES, MOVES, QDQ, Exported, attention_of, built, package_version, reason

INT8_KERNELS = ("QLinear", "QGemm", "ConvInteger", "MatMulInteger", "DynamicQuantize", "QAttention")
"""Op types (prefixes) of ONNX Runtime's int8 kernels, which its QDQ fusion puts where it can."""


def executed(exported: Exported, workdir: str) -> OpTally:
    """The attention ops ONNX Runtime executes, from the graph its optimizer makes (extended level, the
    hardware-independent one): its int8 kernels (``QLinearConv``, ``QLinearMul``, ...) and the float ops left, with
    the Q/DQ conversions between them counted among the float types as ``QuantizeLinear``/``DequantizeLinear``.
    Layout changes on int8 data count as int8."""
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = f"{workdir}/{exported.path.stem}-ort-optimized.onnx"
    opts.log_severity_level = 3
    ort.InferenceSession(str(exported.path), opts, providers=["CPUExecutionProvider"])
    nodes = list(onnx.load(opts.optimized_model_filepath).graph.node)
    producer = {out: n for n in nodes for out in n.output}
    int8, floats = 0, Counter()
    for n in attention_of(nodes, exported.attention_nodes, exported.nodes):
        src = producer.get(n.input[0]) if n.input else None
        moves_int8 = (
            n.op_type in MOVES
            and src is not None
            and (src.op_type == "QuantizeLinear" or src.op_type.startswith(INT8_KERNELS))
        )
        if n.op_type.startswith(INT8_KERNELS) or moves_int8:
            int8 += 1
        else:
            floats[n.op_type] += 1
    qdq = sum(v for k, v in floats.items() if k in QDQ)
    return OpTally(int8=int8, float=sum(floats.values()) - qdq, float_types=dict(sorted(floats.items())))


class OnnxRuntime:
    name = "onnxruntime"
    extra = "onnx"
    devices: tuple[str, ...] = ("cpu",)
    quantizes = True
    provider = "CPUExecutionProvider"

    def missing(self, quantize: str = "none") -> list[str]:
        return [p for p in ("onnxruntime", *EXPORT_PACKAGES) if find_spec(p) is None]

    def version(self) -> str:
        return package_version("onnxruntime") or package_version("onnxruntime-gpu")

    def session(self, path: str, threads: int):  # type: ignore[no-untyped-def]
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        try:
            sess = ort.InferenceSession(path, opts, providers=[self.provider])
        except Exception as exc:  # ONNX Runtime's own exception types do not derive from RuntimeError
            raise ExportError(f"ONNX Runtime could not load the exported model: {reason(exc)}") from exc
        if sess.get_providers()[0] != self.provider:
            raise RuntimeError(
                f"ONNX Runtime did not load its {self.provider} (it offers {', '.join(sess.get_providers())}); "
                "attnbench never falls back to another provider."
            )
        return sess

    def prepare(self, model: nn.Module, x: torch.Tensor, request: Request) -> Prepared:
        exported = built(model, x, request)
        sess = self.session(str(exported.path), request.threads)
        feed = {exported.input_name: x.detach().cpu().numpy()}

        def run(t: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(sess.run(None, {exported.input_name: t.detach().cpu().numpy()})[0])

        ops = executed(exported, str(exported.path.parent)) if self.provider == "CPUExecutionProvider" else exported.ops
        return Prepared(call=lambda: sess.run(None, feed), run=run, graph=exported.graph, ops=ops)


class OnnxRuntimeCuda(OnnxRuntime):
    name = "onnxruntime-cuda"
    extra = "onnx"
    devices = ("cuda",)
    quantizes = False
    provider = "CUDAExecutionProvider"

    def missing(self, quantize: str = "none") -> list[str]:
        gone = super().missing(quantize)
        if gone:
            return gone
        import onnxruntime as ort

        if self.provider not in ort.get_available_providers():
            return ["onnxruntime-gpu (this onnxruntime has no CUDAExecutionProvider; install onnxruntime-gpu)"]
        return []


RUNTIME = OnnxRuntime()
CUDA_RUNTIME = OnnxRuntimeCuda()
