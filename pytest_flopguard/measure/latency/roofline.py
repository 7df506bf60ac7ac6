"""`latency_estimate`: a roofline from the counted FLOPs and bytes of each op call.

Each op call takes at least as long as its arithmetic at the device's peak
for its precision, and at least as long as moving its bytes at the device's
memory bandwidth; the estimate is the sum over calls of the larger of the
two (SPEC: sum over ops of max(flops/peak, bytes/bandwidth)). FLOPs are the
engine's `2 x macs + flops_other` of that call, bytes its `memory_access`.

Peaks are never reached, so this is a lower bound; its use is to see, on a
device the runner does not have, whether a change moves a model towards
compute or memory limits, and by how much.

    >>> from pytest_flopguard.budget.devices import SHIPPED
    >>> estimate([OpCost(2 * 10**9, 10**6, "fp32")], SHIPPED["t4"])  # 2 GFLOP at 8.1 TFLOP/s
    0.00024691358024691357
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pytest_flopguard.budget.devices import DeviceProfile
from pytest_flopguard.budget.units import format_bandwidth, format_percent, format_rate, format_time
from pytest_flopguard.measure.types import Measurement, OpCost, OpStats


def estimate(costs: Iterable[OpCost], profile: DeviceProfile) -> float:
    """Seconds: the sum over op calls of max(flops / peak, bytes / bandwidth)."""
    return sum(max(c.flops / profile.peak(c.precision), c.bytes / profile.bandwidth) for c in costs)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    memory_bound: float  # share of the estimate spent in calls bound by bandwidth
    basis: str  # how it was estimated, for the report


def estimate_model(measurement: Measurement, profile: DeviceProfile) -> Estimate:
    """The estimate of one model on one profile, with a sentence saying how it was made."""
    costs, per_call = _costs(measurement)
    seconds = estimate(costs, profile)
    memory = sum(c.bytes / profile.bandwidth for c in costs if c.bytes / profile.bandwidth >= _compute(c, profile))
    share = memory / seconds if seconds else 0.0
    basis = (
        f"roofline on {describe(profile)}: {format_time(seconds)}, "
        f"{format_percent(share)} of it in memory-bound ops; a lower bound (peak figures)"
    )
    if not per_call:
        basis += "; from per-op totals taken as fp32 (this engine has no per-call figures)"
    return Estimate(seconds, share, basis)


def describe(profile: DeviceProfile) -> str:
    """`NVIDIA T4 (fp32 8.1TFLOP/s, fp16 65TFLOP/s, int8 130TOP/s, 320GB/s; NVIDIA T4 ... data sheet)`."""
    peaks = (
        f"fp32 {format_rate(profile.fp32)}, fp16 {format_rate(profile.fp16)}, "
        f"int8 {format_rate(profile.int8, 'OP/s')}, {format_bandwidth(profile.bandwidth)}"
    )
    source = f"; {profile.source}" if profile.source else ""
    return f"{profile.title} ({peaks}{source})"


def estimates(measurement: Measurement, profiles: Mapping[str, DeviceProfile]) -> dict[str, Estimate]:
    """`{target: Estimate}` for each named profile."""
    return {target: estimate_model(measurement, profile) for target, profile in profiles.items()}


def _compute(cost: OpCost, profile: DeviceProfile) -> float:
    return cost.flops / profile.peak(cost.precision)


def _costs(measurement: Measurement) -> tuple[tuple[OpCost, ...], bool]:
    """Per-call costs; an engine without them (ONNX) gives per-op totals, taken as fp32."""
    if measurement.op_costs or not measurement.ops:
        return measurement.op_costs, True
    return tuple(_total(op) for op in measurement.ops.values()), False


def _total(op: OpStats) -> OpCost:
    return OpCost(2 * op.macs + op.flops_other, op.memory_access, "fp32")
