"""Peak memory of one inference forward in a pass of its own: the cross-check of ``attnbench.cost.opcount``,
which measures it in the counting pass. Tests only."""

from __future__ import annotations

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class _LiveTensorBytes(TorchDispatchMode):
    """Tracks the bytes of storages created by the dispatched ops that are still alive, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.current = 0
        self.peak = 0

    def _sweep(self) -> None:
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.current -= self.live.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        self._sweep()
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage._cdata
                if key not in self.live:
                    self.live[key] = (StorageWeakRef(storage), storage.nbytes())
                    self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        return out


def peak_memory(model: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes held during one inference forward of ``model(x)``.

    On CUDA: ``torch.cuda.max_memory_allocated`` over the call (the caching allocator's view, workspaces included).
    On CPU: parameters + buffers + input + the largest total of intermediate tensors alive at once, tracked op by
    op. Scratch memory that a kernel allocates and frees inside one op (e.g. oneDNN workspaces) is not seen.
    """
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        with torch.inference_mode():
            model(x)
        torch.cuda.synchronize(x.device)
        return int(torch.cuda.max_memory_allocated(x.device))
    resident = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers(), x))
    tracker = _LiveTensorBytes()
    with torch.inference_mode(), tracker:
        model(x)
    return int(resident + tracker.peak)
