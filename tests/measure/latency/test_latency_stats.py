"""Latency statistics on synthetic samples with fixed seeds."""

from __future__ import annotations

import random

import pytest

from pytest_flopguard.measure.latency.stats import decide, median_halfwidth, quantile, ratio_interval


def noisy(rng: random.Random, median: float, n: int, spread: float = 0.05, outliers: float = 0.05) -> list[float]:
    """Log-normal timings with occasional 2-4x stalls, like a shared runner."""
    out = []
    for _ in range(n):
        t = median * rng.lognormvariate(0, spread)
        if rng.random() < outliers:
            t *= rng.uniform(2, 4)
        out.append(t)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_identical_distributions_are_not_regressions(seed: int) -> None:
    rng = random.Random(seed)
    base, head = noisy(rng, 0.010, 60), noisy(rng, 0.010, 60)
    assert decide(base, head, tolerance=0.05).verdict in ("ok", "inconclusive")


@pytest.mark.parametrize("seed", range(20))
def test_a_clear_shift_is_a_regression(seed: int) -> None:
    rng = random.Random(1000 + seed)
    base, head = noisy(rng, 0.010, 60), noisy(rng, 0.013, 60)  # +30%
    decision = decide(base, head, tolerance=0.05)
    assert decision.verdict == "regressed", decision.reason
    assert decision.estimate is not None and 1.2 < decision.estimate.ratio < 1.4


def test_small_change_inside_tolerance_is_ok() -> None:
    rng = random.Random(7)
    base, head = noisy(rng, 0.010, 200, spread=0.02, outliers=0), noisy(rng, 0.0101, 200, spread=0.02, outliers=0)
    assert decide(base, head, tolerance=0.10).verdict == "ok"


def test_tiny_samples_are_inconclusive_not_a_guess() -> None:
    decision = decide([0.010, 0.011, 0.010], [0.020, 0.021, 0.022], tolerance=0.05)
    assert decision.verdict == "inconclusive"
    assert decision.reason == "too few samples (3 base, 3 head; need 8 each)"


def test_straddling_interval_is_inconclusive() -> None:
    rng = random.Random(3)
    base, head = noisy(rng, 0.010, 10, spread=0.3), noisy(rng, 0.0106, 10, spread=0.3)
    decision = decide(base, head, tolerance=0.05)
    assert decision.verdict == "inconclusive"
    assert "straddles 1.050" in decision.reason


def test_interval_contains_the_true_ratio_and_narrows_with_samples() -> None:
    rng = random.Random(11)
    small = ratio_interval(noisy(rng, 1.0, 20), noisy(rng, 1.2, 20))
    large = ratio_interval(noisy(rng, 1.0, 400), noisy(rng, 1.2, 400))
    assert small.low < 1.2 < small.high
    assert large.low < 1.2 < large.high
    assert (large.high - large.low) < (small.high - small.low) / 2


def test_exact_interval_on_a_fixed_sample() -> None:
    # Pairwise log-ratios of {1, 2} vs {2, 4}: log 2, log 4, log 1, log 2 -> median log 2
    r = ratio_interval([1.0, 2.0], [2.0, 4.0])
    assert r.ratio == pytest.approx(2.0)
    assert (r.low, r.high) == (pytest.approx(1.0), pytest.approx(4.0))


def test_quantiles_interpolate_between_order_statistics() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    # position q*(n-1): 0.1*4 = 0.4 -> 1 + 0.4*(2-1); 0.9*4 = 3.6 -> 4 + 0.6*(5-4)
    assert (quantile(values, 0.1), quantile(values, 0.5), quantile(values, 0.9)) == pytest.approx((1.4, 3.0, 4.6))


def test_median_halfwidth_shrinks_with_samples_and_needs_five() -> None:
    rng = random.Random(5)
    assert median_halfwidth([1.0, 1.0, 1.0, 1.0]) == float("inf")
    few, many = median_halfwidth(noisy(rng, 1.0, 20)), median_halfwidth(noisy(rng, 1.0, 2000))
    assert many < few / 4  # ~ 1/sqrt(n): 10x the samples' square root
    assert many < 0.01


def test_one_sample_short_of_the_minimum_is_inconclusive() -> None:
    rng = random.Random(2)
    decision = decide(noisy(rng, 0.010, 7), noisy(rng, 0.020, 8), tolerance=0.05)
    assert decision.verdict == "inconclusive" and decision.estimate is None
