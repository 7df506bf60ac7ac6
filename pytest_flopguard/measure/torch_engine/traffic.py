"""`memory_access` of one op call: the bytes it reads and writes, views and allocations free.

Each distinct element a tensor addresses counts once (broadcast dimensions
are read once), in-place ops read and write their operand, an `out=`
argument is only written.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from pytest_flopguard.measure.torch_engine import formulas

_BACKWARD_ONLY_OUTPUTS = frozenset(
    {"aten.native_batch_norm", "aten._native_batch_norm_legit", "aten._native_batch_norm_legit_no_training"}
)
# Allocation without reading or writing any element: no memory traffic.
_NO_TRAFFIC = frozenset(
    {"aten.empty", "aten.empty_like", "aten.empty_strided", "aten.new_empty", "aten.new_empty_strided"}
)
_TRAFFIC: dict[Any, bool] = {}


def has_traffic(op: Any) -> bool:
    """Views (by schema or on the unsafe-view list) and bare allocations move no bytes."""
    if op not in _TRAFFIC:
        _TRAFFIC[op] = not formulas.is_view(op) and formulas.packet_name(op) not in _NO_TRAFFIC
    return _TRAFFIC[op]


def costed_outputs(op: Any, out: Any) -> Any:
    """The outputs that cost bytes and memory.

    Batch norm also returns statistics saved for backward: CPU and CUDA
    kernels return them empty in eval, meta kernels return them [C]-sized.
    Only the normalised tensor is counted, so meta and real runs agree.
    """
    if formulas.packet_name(op) in _BACKWARD_ONLY_OUTPUTS and isinstance(out, (tuple, list)):
        return out[0]
    return out


def bytes_accessed(op: Any, args: Any, kwargs: dict[str, Any], out: Any) -> int:
    """Every tensor input read plus every tensor output written (in-place: both)."""
    if not has_traffic(op):
        return 0
    # An out= argument is only written; it comes back as the output.
    schema_args = getattr(getattr(op, "_schema", None), "arguments", [])
    written_args = {a.name for a in schema_args if a.kwarg_only and a.alias_info and a.alias_info.is_write}
    read = tensors((args, {k: v for k, v in kwargs.items() if k not in written_args}))
    return sum(nbytes(t) for t in read) + sum(nbytes(t) for t in tensors(out))


def nbytes(t: torch.Tensor) -> int:
    """Bytes of the distinct elements a tensor addresses.

    A broadcast (stride-0) dimension re-reads the same elements: an expanded
    weight fed to bmm is read once, as it is when matmul folds it into mm
    instead. Which of the two paths torch takes depends on requires_grad, so
    counting logical elements would make memory_access depend on it.
    """
    if t.layout != torch.strided or t.dim() == 0:
        return t.numel() * t.element_size()
    distinct = 1
    for size, stride in zip(t.shape, t.stride(), strict=True):
        if stride != 0:
            distinct *= size
    return distinct * t.element_size() if t.numel() else 0


def tensors(tree: Any) -> list[torch.Tensor]:
    leaves, _ = tree_flatten(tree)
    return [x for x in leaves if isinstance(x, torch.Tensor)]
