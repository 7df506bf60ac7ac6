"""Is head slower than base? A confidence interval on the latency ratio.

Timings on a shared CI runner are noisy and skewed, so medians compared
naively cry wolf (../shared/notes/latency.md: 22-33% false alarms on a busy
runner). We compare interleaved samples of base and head with the
Hodges-Lehmann estimator of the shift of log-times and its distribution-free
Mann-Whitney confidence interval, and answer in three ways:

- `regressed`: the whole interval of head/base lies above 1 + tolerance;
- `ok`: the whole interval lies below 1 + tolerance;
- `inconclusive`: the interval straddles it, or there are too few samples.

Pure Python: a few hundred samples per side cost milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from pytest_flopguard.measure.types import LatencyStats

MIN_SAMPLES = 8  # per side; fewer cannot give a useful interval


def summarize(
    samples: Sequence[float], threads: int, calls_per_sample: int, environment: dict[str, str]
) -> LatencyStats:
    """Median, p10 and p90 of one side's samples, with how they were taken."""
    return LatencyStats(
        median_s=quantile(samples, 0.5),
        p10_s=quantile(samples, 0.1),
        p90_s=quantile(samples, 0.9),
        samples=len(samples),
        threads=threads,
        calls_per_sample=calls_per_sample,
        environment=environment,
    )


@dataclass(frozen=True)
class RatioEstimate:
    ratio: float  # Hodges-Lehmann estimate of head / base
    low: float  # confidence interval of the ratio
    high: float
    confidence: float
    samples: tuple[int, int]  # (base, head)


@dataclass(frozen=True)
class LatencyDecision:
    verdict: str  # "regressed", "ok", "inconclusive"
    estimate: RatioEstimate | None
    reason: str


def ratio_interval(base: Sequence[float], head: Sequence[float], confidence: float = 0.95) -> RatioEstimate:
    """Hodges-Lehmann ratio head/base with its Mann-Whitney confidence interval.

    >>> r = ratio_interval([10.0] * 8 + [11.0] * 8, [12.0] * 8 + [13.2] * 8)
    >>> round(r.ratio, 2)
    1.2
    """
    if min(len(base), len(head)) < 2 or min(*base, *head) <= 0:
        raise ValueError("need at least two positive timings on each side")
    logs_b = [math.log(x) for x in base]
    diffs = sorted(math.log(h) - lb for h in head for lb in logs_b)
    n, m = len(base), len(head)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    # Rank of the interval's ends among the n*m pairwise differences
    # (normal approximation of the Mann-Whitney U distribution).
    k = math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))
    k = max(0, min(k, len(diffs) - 1))
    return RatioEstimate(
        ratio=math.exp(_median(diffs)),
        low=math.exp(diffs[k]),
        high=math.exp(diffs[len(diffs) - 1 - k]),
        confidence=confidence,
        samples=(n, m),
    )


def decide(base: Sequence[float], head: Sequence[float], tolerance: float, confidence: float = 0.95) -> LatencyDecision:
    """Regressed only when the slowdown is statistically clear and past `tolerance`."""
    if min(len(base), len(head)) < MIN_SAMPLES:
        return LatencyDecision(
            "inconclusive", None, f"too few samples ({len(base)} base, {len(head)} head; need {MIN_SAMPLES} each)"
        )
    estimate = ratio_interval(base, head, confidence)
    bound = 1 + tolerance
    interval = f"head/base {estimate.ratio:.3f} [{estimate.low:.3f}, {estimate.high:.3f}] at {confidence:.0%}"
    if estimate.low > bound:
        return LatencyDecision("regressed", estimate, f"{interval}, all above {bound:.3f}")
    if estimate.high < bound:
        return LatencyDecision("ok", estimate, f"{interval}, all below {bound:.3f}")
    return LatencyDecision("inconclusive", estimate, f"{interval} straddles {bound:.3f}")


def quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile of `values` (linear interpolation between order statistics).

    >>> quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.1)
    1.4
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median_halfwidth(values: Sequence[float], confidence: float = 0.95) -> float:
    """Half the width of a distribution-free confidence interval of the median, relative to it.

    The interval runs between the order statistics at n/2 -+ z*sqrt(n)/2
    (the binomial count of samples below the median, normal approximation);
    timing stops once this is small enough. Infinite below 5 samples.

    >>> round(median_halfwidth([1.0] * 50 + [1.1] * 50), 3)
    0.048
    """
    n = len(values)
    if n < 5:
        return math.inf
    ordered = sorted(values)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    k = max(0, math.floor(n / 2 - z * math.sqrt(n) / 2))
    low, high = ordered[k], ordered[min(n - 1, n - 1 - k)]
    middle = quantile(ordered, 0.5)
    return (high - low) / 2 / middle if middle > 0 else math.inf


def _median(values: Sequence[float]) -> float:
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
