"""ExecuTorch with the XNNPACK delegate: ``torch.export`` → ``to_edge_transform_and_lower`` → a ``.pte`` program,
run by ExecuTorch's runtime. BatchNorm after a convolution is folded into it before the export (``fold``), as
XNNPACK's lowering would fold it after.

int8 is the XNNPACK PT2E quantizer (symmetric, per-channel weights), calibrated on the request's calibration
images before lowering. XNNPACK's thread pool is set to the run's thread count before the program is loaded and
checked after; it is one pool per process, so every ExecuTorch build of a run shares that count.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from importlib.util import find_spec

import torch
from torch import nn

from ..errors import ExportError
from .base import Prepared, Request
from .fold import fold_batchnorm
from .onnx_export import _quiet, package_version, reason


@contextlib.contextmanager
def _native_quiet() -> Iterator[None]:
    """ExecuTorch's C++ log lines (thread pool, XNNPACK compiler) kept off stderr while a program is loaded."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class ExecuTorch:
    name = "executorch"
    extra = "executorch"
    devices = ("cpu",)
    quantizes = True

    def missing(self, quantize: str = "none") -> list[str]:
        return [p for p in ("executorch",) if find_spec(p) is None]

    def version(self) -> str:
        return package_version("executorch")

    def _lower(self, model: nn.Module, x: torch.Tensor, request: Request):  # type: ignore[no-untyped-def]
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
        from torch.export import export

        program = export(fold_batchnorm(model), (x,))
        if request.quantize == "int8":
            from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                XNNPACKQuantizer,
                get_symmetric_quantization_config,
            )
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
            observed = prepare_pt2e(program.module(), quantizer)
            for t in request.calibration:
                observed(t)
            program = export(convert_pt2e(observed), (x,))
        return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])

    def prepare(self, model: nn.Module, x: torch.Tensor, request: Request) -> Prepared:
        with _native_quiet():  # torchao, imported with ExecuTorch, reports its optional kernels on stderr
            from executorch.extension.pybindings import portable_lib
            from executorch.runtime import Runtime

        if request.workdir is None:
            raise ValueError("an ExecuTorch export needs request.workdir")
        try:
            with _quiet(), _native_quiet(), torch.no_grad():
                edge = self._lower(model, x, request)
                buffer = edge.to_executorch().buffer
        except Exception as exc:  # export, quantizer and lowering raise many types; each is this model's failed row
            raise ExportError(f"ExecuTorch export failed: {reason(exc)}") from exc
        graph = edge.exported_program().graph
        calls = [n for n in graph.nodes if n.op == "call_function"]
        delegated = sum(1 for n in calls if "call_delegate" in str(n.target))
        outside = sum(1 for n in calls if "call_delegate" not in str(n.target) and "getitem" not in str(n.target))
        path = request.workdir / f"{request.key or 'model'}-{request.quantize}-{len(request.cache)}.pte"
        request.cache[("pte", path)] = path
        path.write_bytes(buffer)
        with _native_quiet():
            portable_lib._unsafe_reset_threadpool(request.threads)
            got = portable_lib._threadpool_get_thread_count()
            try:
                method = Runtime.get().load_program(str(path)).load_method("forward")
            except Exception as exc:  # XNNPACK refuses a lowered graph at load time (e.g. an op shape it lacks)
                raise ExportError(f"ExecuTorch could not load the program: {reason(exc)}") from exc
        if got != request.threads:
            raise RuntimeError(f"ExecuTorch's thread pool has {got} threads, not the {request.threads} asked for.")

        def run(t: torch.Tensor) -> torch.Tensor:
            return method.execute([t.contiguous()])[0]

        quant = ", int8 (XNNPACK PT2E quantizer, per-channel)" if request.quantize == "int8" else ""
        return Prepared(
            call=lambda: method.execute([x]),
            run=run,
            graph=f"executorch .pte (torch.export, XNNPACK delegate: {delegated} subgraphs, {outside} ops outside){quant}",
        )


RUNTIME = ExecuTorch()
