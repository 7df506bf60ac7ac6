"""Latency verdicts: from the interleaved decision only, never from a figure of another run."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_flopguard.compare.diff import FAILING, Verdict, compare
from pytest_flopguard.compare.latency import ANOTHER_RUN
from pytest_flopguard.measure.types import LatencyStats, VersusBase
from pytest_flopguard.results import ModelResult, Results

ENV = {"device": "cpu", "cpu": "AMD EPYC", "torch": "2.13.0", "threads": "1", "python": "3.11.7"}


def stats(median: float, versus: VersusBase | None = None, **env: str) -> LatencyStats:
    return LatencyStats(median, median * 0.95, median * 1.1, 200, 1, 1, {**ENV, **env}, versus)


def versus(verdict: str, ratio: float, low: float, high: float, base: float = 0.010) -> VersusBase:
    return VersusBase(verdict, ratio, low, high, 0.95, 0.05, f"head/base {ratio}", None, base)


def result(median: float, versus: VersusBase | None = None, limit: float | None = None, **kw: object) -> ModelResult:
    return ModelResult(
        metrics={"latency.cpu": median},
        latency={"cpu": stats(median, versus)},
        limits={"latency.cpu": limit} if limit else {},
        **kw,  # type: ignore[arg-type]
    )


def row(base: ModelResult | None, head: ModelResult) -> tuple[Verdict, str, float | None]:
    old = Results(models={"m": base}, budget_models=("m",)) if base else None
    diff = compare(old, Results(models={"m": head}, budget_models=("m",))).models[0].metrics[0]
    return diff.verdict, diff.note, diff.base


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (versus("regressed", 1.30, 1.22, 1.38), Verdict.REGRESSED),
        (versus("inconclusive", 1.06, 1.01, 1.11), Verdict.INCONCLUSIVE),
        (versus("ok", 1.01, 0.99, 1.03), Verdict.OK),
        (versus("ok", 0.80, 0.76, 0.84), Verdict.IMPROVED),
        (versus("inconclusive", 1.0, None, None), Verdict.INCONCLUSIVE),  # too few samples: no interval
    ],
)
def test_interleaved_decision_is_the_verdict(decision: VersusBase, expected: Verdict) -> None:
    verdict, note, base = row(result(0.0100), result(0.0130, decision))
    assert verdict == expected
    assert base == 0.010  # the base median measured beside the head, not the other run's 0.0100 by chance
    assert "interleaved in this job" in note


def test_inconclusive_and_skipped_do_not_fail() -> None:
    assert Verdict.INCONCLUSIVE not in FAILING and Verdict.SKIPPED not in FAILING


def test_note_shows_the_ratio_and_its_interval() -> None:
    decision = replace(versus("regressed", 1.304, 1.221, 1.387), confirmed=True)
    _, note, _ = row(None, result(0.013, decision))
    assert note == (
        "head/base 1.304 [1.221, 1.387] (95%), interleaved in this job: regressed at tolerance 5.0%, "
        "confirmed in fresh processes"
    )


def test_a_regression_within_the_floor_is_ok() -> None:
    head = replace(result(0.0105, versus("regressed", 1.05, 1.03, 1.07)), floor={"latency": 0.001})
    assert row(result(0.010), head)[0] == Verdict.OK


def test_a_figure_from_another_run_never_calls_a_regression() -> None:
    # Twice as slow, but the base comes from a stored file: only the limit applies.
    verdict, note, _ = row(result(0.010), result(0.020))
    assert (verdict, note) == (Verdict.OK, ANOTHER_RUN)


def test_the_limit_still_applies_to_a_figure_from_another_run() -> None:
    assert row(result(0.010), result(0.020, limit=0.015))[0] == Verdict.OVER_LIMIT


def test_different_environments_are_not_compared() -> None:
    base = replace(result(0.010), latency={"cpu": stats(0.010, threads="2")})
    verdict, note, _ = row(base, result(0.020))
    assert verdict == Verdict.OK
    assert note == "base and head ran in different environments (threads 2 → 1): not compared; only the limit applies"


def test_skipped_device_says_why_and_passes() -> None:
    head = ModelResult(limits={"latency.cuda": 0.002}, skipped={"latency.cuda": "no CUDA device on this machine"})
    diff = compare(None, Results(models={"m": head}, budget_models=("m",)))
    (only,) = diff.models[0].metrics
    assert (only.key, only.verdict, only.note) == ("latency.cuda", Verdict.SKIPPED, "no CUDA device on this machine")
    assert diff.passed and diff.exit_code == 0
    assert diff.models[0].verdict == Verdict.SKIPPED


def test_latency_tolerance_defaults_to_five_percent() -> None:
    from pytest_flopguard.metrics import tolerance_for

    assert tolerance_for({}, "latency.cpu") == 0.05
    assert tolerance_for({"latency": 0.1}, "latency.cpu") == 0.1
    # An estimate follows the gated FLOPs and bytes: its limit applies, its growth alone is not gated.
    assert tolerance_for({}, "latency_estimate.t4") is None
    assert tolerance_for({"latency_estimate": 0.02}, "latency_estimate.t4") == 0.02
