"""What the counting engine produces: plain frozen data, no torch.

These types cross the boundary between the measure layer and everything
after it (results JSON, compare, render), so they hold only ints, strings
and tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# The FLOP convention travels with every number (STYLE habit 2).
FLOP_CONVENTION = (
    "flops = 2 x macs of matmul-class ops (linear, matmul, conv, attention), "
    "as torch.utils.flop_counter.FlopCounterMode; "
    "elementwise, normalisation, softmax and pooling work is flops_other"
)


@dataclass(frozen=True)
class OpStats:
    """Totals for one aten op over a forward pass."""

    calls: int
    macs: int = 0
    flops_other: int = 0
    memory_access: int = 0


@dataclass(frozen=True)
class ModuleStats:
    """Inclusive totals for one module path (`""` is the root model).

    A module called twice counts both calls; `params` counts each distinct
    parameter of the subtree once, so tied weights are not doubled.
    """

    path: str
    type: str
    calls: int
    params: int
    macs: int
    flops: int
    flops_other: int
    memory_access: int


@dataclass(frozen=True)
class Measurement:
    """Deterministic figures of one forward pass of one model."""

    macs: int
    flops: int
    flops_other: int
    params: int
    memory_access: int
    peak_memory: int | None = None
    modules: tuple[ModuleStats, ...] = ()
    ops: Mapping[str, OpStats] = field(default_factory=dict)
    uncounted_ops: Mapping[str, int] = field(default_factory=dict)
    execution: str = "real"  # "meta", "hybrid" or "real"
    notes: tuple[str, ...] = ()

    def metrics(self) -> dict[str, int]:
        """The SPEC metric keys with integer values (peak_memory when known)."""
        out = {
            "macs": self.macs,
            "flops": self.flops,
            "flops_other": self.flops_other,
            "params": self.params,
            "memory_access": self.memory_access,
        }
        if self.peak_memory is not None:
            out["peak_memory"] = self.peak_memory
        return out
