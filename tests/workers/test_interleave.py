"""Base against head, interleaved: the worker protocol on tiny models, and the confirmation rule.

The statistics are tested on synthetic samples in test_latency_stats.py; here
only the mechanics: both sides sampled in turns with the same calls per
sample, errors named, and a flag standing only if fresh processes flag it too.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pytest_flopguard.workers import latency_pair as interleave
from pytest_flopguard.workers.latency_pair import Samples, Side, WorkerError, compare_latency

MODELS = """
import torch


class Tiny(torch.nn.Module):
    def __init__(self, broken=False):
        super().__init__()
        if broken:
            raise ValueError("no such width")
        self.fc = torch.nn.Linear(16, 16)

    def forward(self, x):
        return self.fc(x)
"""
BUDGET = "version: 1\nmodels:\n  tiny:\n    model: models:Tiny\n    kwargs: {broken: %s}\n    inputs: [[4, 16]]\n"


def side(root: Path, broken: bool = False) -> Side:
    root.mkdir()
    (root / "models.py").write_text(MODELS)
    (root / "flopguard.yaml").write_text(BUDGET % ("true" if broken else "false"))
    return Side(root / "flopguard.yaml")


@pytest.mark.slow
def test_two_workers_take_turns_and_the_head_carries_the_decision(tmp_path: Path) -> None:
    base, head = compare_latency(side(tmp_path / "a"), side(tmp_path / "b"), "tiny", "cpu", 0.3, tolerance=0.05)
    assert base.samples > 1 and head.samples > 1
    assert base.calls_per_sample == head.calls_per_sample  # medians of means over the same number of calls
    assert base.environment == head.environment and base.threads == head.threads == 1
    assert base.versus_base is None
    decision = head.versus_base
    assert decision is not None and decision.verdict in ("ok", "inconclusive", "regressed")
    assert decision.base_median_s == base.median_s and decision.tolerance == 0.05


@pytest.mark.slow
def test_a_worker_that_cannot_build_its_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(WorkerError) as info:
        compare_latency(side(tmp_path / "a", broken=True), side(tmp_path / "b"), "tiny", "cpu", 0.3, 0.05)
    assert info.value.message == "the base could not be timed at models.py:9: ValueError: no such width"


def synthetic(head_median: float, seed: int) -> Samples:
    rng = random.Random(seed)
    base = [0.010 * rng.lognormvariate(0, 0.02) for _ in range(60)]
    head = [head_median * rng.lognormvariate(0, 0.02) for _ in range(60)]
    return Samples(base, head, ({"threads": "1"}, {"threads": "1"}), (1, 1))


def runs(monkeypatch: pytest.MonkeyPatch, *heads: float) -> list[int]:
    """Make `interleaved` return synthetic samples, the head's median from `heads` in turn."""
    calls: list[int] = []

    def fake(base: Side, head: Side, model: str, device: str, seconds: float) -> Samples:
        calls.append(1)
        return synthetic(heads[len(calls) - 1], seed=len(calls))

    monkeypatch.setattr(interleave, "interleaved", fake)
    return calls


def test_a_clear_pass_needs_no_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = runs(monkeypatch, 0.010)
    _, head = compare_latency(Side(Path("a")), Side(Path("b")), "m", "cpu", 1.0, 0.05)
    assert head.versus_base is not None
    assert (head.versus_base.verdict, head.versus_base.confirmed, len(calls)) == ("ok", None, 1)


def test_a_flag_confirmed_in_fresh_processes_is_a_regression(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = runs(monkeypatch, 0.013, 0.013)
    _, head = compare_latency(Side(Path("a")), Side(Path("b")), "m", "cpu", 1.0, 0.05)
    assert head.versus_base is not None
    assert (head.versus_base.verdict, head.versus_base.confirmed, len(calls)) == ("regressed", True, 2)


def test_a_flag_not_confirmed_is_inconclusive_never_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    # A steady offset between two processes (notes/latency.md) flags once; fresh processes do not.
    runs(monkeypatch, 0.013, 0.010)
    _, head = compare_latency(Side(Path("a")), Side(Path("b")), "m", "cpu", 1.0, 0.05)
    decision = head.versus_base
    assert decision is not None
    assert (decision.verdict, decision.confirmed) == ("inconclusive", False)
    assert decision.reason == (
        "not confirmed: the first measurement flagged it (head/base 1.296 [1.284, 1.307] at 95%, all above 1.050), "
        "fresh processes did not (head/base 0.998 [0.991, 1.006] at 95%, all below 1.050)"
    )
