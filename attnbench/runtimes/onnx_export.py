"""The ONNX graph every ONNX-based runtime (ONNX Runtime, OpenVINO) is given: one export per model and run.

The export is ``torch.onnx.export(..., dynamo=True)``, the torch.export-based exporter that is the supported path
in torch 2.13 (the TorchScript exporter still exists there but is deprecated). It needs the ``onnx`` and
``onnxscript`` packages, and never falls back to the TorchScript exporter. The graph is the module's own: the
attention blocks' 1×1 convolutions are ``Conv`` nodes, so BatchNorm folds into them (``optimize=True``); the pairs
whose order is certain are folded before tracing, which is faster and gives the same ops (``fold``), and the
exporter's translation table is built once per process (``onnx_registry``).

int8 is ONNX Runtime's static quantization in QDQ form (``quantize_static`` with a ``CalibrationDataReader``
over the request's calibration images, per-channel int8 weights, int8 activations, MinMax ranges). The same QDQ
file is what OpenVINO runs for ``--quantize int8``.

Exports are cached in the request's ``cache`` under the model's name, so the runtimes of one run share them.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ExportError
from .base import OpTally, Request
from .fold import fold_batchnorm
from .onnx_registry import reused as reused_registry

EXPORT_PACKAGES = ("onnx", "onnxscript")
QDQ = ("QuantizeLinear", "DequantizeLinear")


def package_version(dist: str) -> str:
    try:
        return _dist_version(dist)
    except PackageNotFoundError:
        return ""


@dataclass(frozen=True)
class Exported:
    """An ONNX file of one model: where it is, what its input is called, and which of its nodes are attention."""

    path: Path
    input_name: str
    graph: str
    attention_nodes: frozenset[str]
    """Names of the nodes that come from an attention module (from the exporter's name scopes)."""
    ops: OpTally
    nodes: frozenset[str] = frozenset()
    """Names of all nodes of the graph (QDQ nodes included)."""


def reason(exc: BaseException) -> str:
    """The exporter's one-line reason: the innermost cause's first line, with its type."""
    inner = exc
    while inner.__cause__ is not None and inner.__cause__ is not inner:
        inner = inner.__cause__
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    return " ".join(f"{type(inner).__name__}: {lines[0] if lines else ''}".split())[:240]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress prints, log lines and warnings kept off the user's terminal (stdout holds CSV)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _in_attention(node: Any, attention: tuple[str, ...]) -> bool:
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return False
            return any(s in attention for s in scopes)
    return False


def tally(model_proto: Any, attention_nodes: frozenset[str]) -> OpTally:
    """Count the attention ops of a QDQ graph (the file given to the runtime) by whether they are quantized.

    An op is quantized when every activation it reads comes from a ``DequantizeLinear`` and every op that reads its
    output is a ``QuantizeLinear``; any other attention op is float (Q/DQ nodes themselves are not counted). This is
    what the graph asks for; what a runtime then executes in int8 is counted by the runtime (``ort.executed``).
    """
    graph = model_proto.graph
    constants = {i.name for i in graph.initializer}
    producer = {out: n for n in graph.node for out in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    int8, floats = 0, Counter()
    for n in graph.node:
        if n.name not in attention_nodes or n.op_type in QDQ or n.op_type == "Constant":
            continue
        acts = [i for i in n.input if i and i not in constants and producer.get(i) is not None]
        acts = [i for i in acts if producer[i].op_type != "Constant"]
        reads_q = bool(acts) and all(producer[i].op_type == "DequantizeLinear" for i in acts)
        readers = [c for out in n.output for c in consumers.get(out, [])]
        writes_q = bool(readers) and all(c.op_type == "QuantizeLinear" for c in readers)
        if reads_q and writes_q:
            int8 += 1
        else:
            floats[n.op_type] += 1
    return OpTally(int8=int8, float=sum(floats.values()), float_types=dict(sorted(floats.items())))


TOKEN = re.compile(r"_token_\d+$")
MOVES = ("Transpose", "Reshape", "Unsqueeze", "Squeeze", "Split", "Concat", "Flatten", "Identity", "Slice", "Gather")


def attention_of(nodes: list[Any], attention_nodes: frozenset[str], known: frozenset[str]) -> list[Any]:
    """The nodes of an optimized graph that come from attention: by name (a runtime's ``_token_N`` suffix
    dropped), and a node the runtime made (a name not in ``known``, the given graph's) by the node that produced
    its first input."""
    producer = {out: n for n in nodes for out in n.output}
    memo: dict[int, bool] = {}

    def inside(n: Any, depth: int = 0) -> bool:
        if id(n) in memo:
            return memo[id(n)]
        name = TOKEN.sub("", n.name)
        if name in attention_nodes:
            result = True
        elif name in known or depth > 8 or not n.input or n.input[0] not in producer:
            result = False
        else:
            result = inside(producer[n.input[0]], depth + 1)
        memo[id(n)] = result
        return result

    return [n for n in nodes if inside(n)]


def export(model: nn.Module, x: torch.Tensor, request: Request) -> Exported:
    """The float32 ONNX file of ``model`` on ``x``'s shape (cached per model name in ``request.cache``).

    Raises:
        ExportError: the exporter refused the model (its one-line reason), e.g. an op it cannot translate.
    """
    key = ("onnx", request.key, tuple(x.shape))
    if key in request.cache:
        return request.cache[key]
    import onnx

    if request.workdir is None:
        raise ValueError("an ONNX export needs request.workdir")
    path = request.workdir / f"{request.key or 'model'}-{len(request.cache)}.onnx"
    try:
        with _quiet(), torch.no_grad(), reused_registry():
            program = torch.onnx.export(
                fold_batchnorm(model), (x,), dynamo=True, optimize=True, external_data=False, verbose=False
            )
            program.save(str(path))
    except Exception as exc:  # the exporter raises many types; each becomes this model's failed row
        raise ExportError(f"ONNX export failed: {reason(exc)}") from exc
    proto = onnx.load(str(path))
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    names = frozenset(n.name for n in proto.graph.node if _in_attention(n, request.attention))
    out = Exported(
        path=path,
        input_name=proto.graph.input[0].name,
        graph=f"onnx opset {opset} (torch.export, onnxscript {package_version('onnxscript')})",
        attention_nodes=names,
        ops=tally(proto, names),
        nodes=frozenset(n.name for n in proto.graph.node),
    )
    request.cache[key] = out
    return out


def quantized(model: nn.Module, x: torch.Tensor, request: Request) -> Exported:
    """The QDQ int8 ONNX file of ``model`` (ONNX Runtime static quantization), calibrated on
    ``request.calibration``; cached like ``export``.

    Raises:
        ExportError: the export or the quantizer failed.
    """
    key = ("onnx-int8", request.key, tuple(x.shape))
    if key in request.cache:
        return request.cache[key]
    base = export(model, x, request)
    import numpy as np
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not request.calibration:
        raise ValueError("int8 quantization needs calibration inputs")
    feeds = [{base.input_name: t.detach().cpu().numpy().astype(np.float32)} for t in request.calibration]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self) -> dict[str, Any] | None:
            return next(self._it, None)

    pre = base.path.with_name(base.path.stem + "-pre.onnx")
    path = base.path.with_name(base.path.stem + "-int8.onnx")
    try:
        with _quiet():
            # Shape inference only: the graph's node names stay, so the attention nodes are still known. ONNX's own
            # shape inference, not ONNX Runtime's symbolic one: the export's shapes are static, and the symbolic
            # pass loses the shape of opset-20 ReduceMax/ReduceMean (axes as an input) and stops at the Concat after
            # them (CBAM's spatial gate). SE's and CA's quantized modules come out byte-identical either way.
            quant_pre_process(str(base.path), str(pre), skip_optimization=True, skip_symbolic_shape=True)
            quantize_static(
                str(pre),
                str(path),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
            )
    except Exception as exc:  # the quantizer raises many types; each becomes this model's failed row
        raise ExportError(f"int8 quantization failed: {reason(exc)}") from exc
    proto = onnx.load(str(path))
    out = Exported(
        path=path,
        input_name=base.input_name,
        graph=f"{base.graph}, QDQ int8 (onnxruntime quantize_static, {len(feeds)} calibration images)",
        attention_nodes=base.attention_nodes,
        ops=tally(proto, base.attention_nodes),
        nodes=frozenset(n.name for n in proto.graph.node),
    )
    request.cache[key] = out
    return out


def built(model: nn.Module, x: torch.Tensor, request: Request) -> Exported:
    """The file to run for ``request.quantize``."""
    return quantized(model, x, request) if request.quantize == "int8" else export(model, x, request)
