"""What the counting engine produces: plain frozen data, no torch.

These types cross the boundary between the measure layer and everything
after it (results JSON, compare, render), so they hold only ints, strings
and tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

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


@dataclass
class Totals:
    """Running totals for one op or module while a counter walks the model."""

    calls: int = 0
    macs: int = 0
    flops_other: int = 0
    memory_access: int = 0

    def add(self, macs: int, other: int, nbytes: int, calls: int = 0) -> None:
        self.calls += calls
        self.macs += macs
        self.flops_other += other
        self.memory_access += nbytes

    def op_stats(self) -> OpStats:
        return OpStats(self.calls, self.macs, self.flops_other, self.memory_access)


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


class OpCost(NamedTuple):
    """One op call as the roofline sees it (`latency/roofline.py`)."""

    flops: int  # 2 x macs + flops_other
    bytes: int  # read + written
    precision: str  # "fp32", "fp16" or "int8": which peak applies


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
    # The op and source line that made the count depend on the weights' values
    # (`nonzero` of scores, `.item()` of a weight): counted on a real run with
    # seeded random weights, so the figure is the same on every run.
    data_dependent: str | None = None
    # Per op call, in order; empty where the engine only has per-op totals (ONNX).
    op_costs: tuple[OpCost, ...] = field(default=(), repr=False, compare=False)

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


@dataclass(frozen=True)
class VersusBase:
    """Head against base, measured interleaved in one job (`workers/latency_pair.py`).

    `verdict` is `latency.stats.decide`'s: regressed, ok or inconclusive; a
    regression stands only if a confirmation in fresh processes flagged it too.
    """

    verdict: str
    ratio: float | None  # Hodges-Lehmann head/base
    low: float | None  # its confidence interval
    high: float | None
    confidence: float
    tolerance: float
    reason: str
    confirmed: bool | None = None  # None: no confirmation was needed
    base_median_s: float | None = None


@dataclass(frozen=True)
class LatencyStats:
    """Wall time of one forward pass on one device, from many timed samples.

    A sample is the mean of `calls_per_sample` back-to-back calls (enough to
    last about a millisecond, so the timer's resolution does not matter).
    """

    median_s: float
    p10_s: float
    p90_s: float
    samples: int
    threads: int
    calls_per_sample: int = 1
    environment: Mapping[str, str] = field(default_factory=dict)
    versus_base: VersusBase | None = None
