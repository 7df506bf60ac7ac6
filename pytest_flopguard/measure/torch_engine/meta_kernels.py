"""Where the meta device and the CPU disagree about an op, for hybrid execution.

- Stricter meta kernels: `aten._grouped_mm` (MoE experts in transformers 5)
  refuses float32 on meta, which the CPU kernel takes: `META_SHAPES` gives
  its output shapes directly.
- Kernels with no CPU implementation (flash and memory-efficient attention
  called directly): on CPU tensors they run on meta, for their output shapes
  (`cuda_only_on_cpu`).
"""

from __future__ import annotations

from typing import Any

import torch

aten = torch.ops.aten
META = torch.device("meta")


def _grouped_mm(
    a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor | None = None, bias: Any = None, out_dtype: Any = None
) -> torch.Tensor:
    """`aten._grouped_mm`'s output from shapes alone.

    Its meta kernel accepts only bfloat16/float16 (CUDA's kernel), while the
    CPU kernel takes float32 too, so a float32 MoE would fail on meta. The
    output shapes are those of torch's own meta function (2d x 3d: the MoE
    case, [tokens, N]). Expert cost does not depend on routing: every token
    meets its top-k experts, whatever they are.
    """
    groups = offs.shape[0] if offs is not None else 0
    if a.dim() == 2 and b.dim() == 2:
        shape = [groups, a.shape[0], b.shape[1]]
    elif a.dim() == 2:
        shape = [a.shape[0], b.shape[-1]]
    elif b.dim() == 2:
        shape = [a.shape[1], b.shape[1]]
    else:
        shape = [a.shape[0], a.shape[1], b.shape[-1]]
    return torch.empty(shape, dtype=out_dtype or a.dtype, device=META)


META_SHAPES: dict[Any, Any] = {}
if hasattr(aten, "_grouped_mm"):  # torch >= 2.8
    META_SHAPES[aten._grouped_mm.default] = _grouped_mm


_CPU_KERNEL: dict[Any, bool] = {}


def cuda_only_on_cpu(func: Any, tensors: list[torch.Tensor]) -> bool:
    """A kernel with no CPU implementation (flash and memory-efficient attention
    called directly) on CPU tensors: it runs on meta, for its output shapes."""
    if not tensors or any(t.device.type != "cpu" for t in tensors):
        return False
    if func not in _CPU_KERNEL:
        name = getattr(func, "name", None)
        _CPU_KERNEL[func] = name is None or torch._C._dispatch_has_computed_kernel_for_dispatch_key(name(), "CPU")
    return not _CPU_KERNEL[func]
