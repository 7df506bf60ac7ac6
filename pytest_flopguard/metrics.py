"""The metric names used everywhere: budget keys, results JSON, reports.

Per-device metrics (`latency`, `latency_estimate`) are flattened to keys like
`latency.cpu` once they leave the budget file, so every later layer handles
one flat mapping of metric key -> number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["count", "bytes", "time"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    unit_word: str  # the word after an SI prefix in reports: "FLOPs", "MACs", ""
    deterministic: bool
    # Growth past the base is a regression by default only for gated metrics;
    # the others are reported and gated when the user sets a tolerance.
    gated: bool
    per_device: bool = False
    # Tolerance when the budget sets none. Latency: a 5% slowdown is what an
    # interleaved 10 s decision can resolve on a shared runner (notes/latency.md).
    default_tolerance: float = 0.0


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("macs", "count", "MACs", deterministic=True, gated=True),
        Metric("flops", "count", "FLOPs", deterministic=True, gated=True),
        Metric("flops_other", "count", "FLOPs", deterministic=True, gated=False),
        Metric("params", "count", "", deterministic=True, gated=True),
        Metric("memory_access", "bytes", "", deterministic=True, gated=True),
        Metric("peak_memory", "bytes", "", deterministic=True, gated=False),
        Metric("latency", "time", "", deterministic=False, gated=True, per_device=True, default_tolerance=0.05),
        # An estimate follows the FLOPs and bytes it is computed from, which are
        # gated already; its limits apply, its growth alone does not fail.
        Metric("latency_estimate", "time", "", deterministic=True, gated=False, per_device=True),
    )
}

# Report order: the most-read figures first.
ORDER = tuple(METRICS)


def metric_of(key: str) -> Metric:
    """The metric behind a flat key: `latency.cpu` -> METRICS['latency']."""
    return METRICS[key.split(".", 1)[0]]


def sort_key(key: str) -> tuple[int, str]:
    """Sort flat metric keys in report order, devices alphabetically."""
    base, _, device = key.partition(".")
    return (ORDER.index(base) if base in METRICS else len(ORDER), device)


def tolerance_for(tolerances: Mapping[str, float], key: str) -> float | None:
    """Tolerance of a flat metric key; `None` means its growth is not gated.

    A device-specific entry (`latency.cpu`) wins over the metric's own
    (`latency`); gated metrics default to 0%: deterministic figures compare
    exactly (STYLE 3); latency, decided statistically, to 5%.
    """
    own = setting_for(tolerances, key)
    if own is not None:
        return own
    metric = metric_of(key)
    return metric.default_tolerance if metric.gated else None


def setting_for(settings: Mapping[str, float], key: str) -> float | None:
    """A per-metric setting with no default (`drift: {flops: 10%}`): the key's own, its metric's or its twin's."""
    return next((settings[c] for c in _candidates(key) if c in settings), None)


def floor_for(floors: Mapping[str, float], key: str) -> float:
    """The smallest growth of a flat metric key that may count as a regression (0: any)."""
    for candidate in _candidates(key):
        if candidate in floors:
            # MACs and FLOPs are one quantity (1 MAC = 2 FLOPs): a floor set on one applies to the other.
            return floors[candidate] * _SCALE.get((key, candidate), 1.0)
    return 0.0


# `macs` and `flops` measure the same work; a tolerance or floor set on one
# governs both, or a `flops: 2%` tolerance would still fail on `macs` at 0%.
_TWIN = {"macs": "flops", "flops": "macs"}
_SCALE = {("macs", "flops"): 0.5, ("flops", "macs"): 2.0}


def _candidates(key: str) -> tuple[str, ...]:
    base = key.split(".", 1)[0]
    twin = _TWIN.get(key)
    return (key, base, twin) if twin else (key, base)
