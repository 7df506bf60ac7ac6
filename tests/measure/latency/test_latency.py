"""Timing mechanics on tiny models: sample counts, stopping, threads, skipping. No timed asserts."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from pytest_flopguard.budget.loader import load_budget
from pytest_flopguard.measure.latency import bench as latency
from pytest_flopguard.measure.latency.bench import MIN_SAMPLES, Bench, measure_spec, time_bench, unavailable
from pytest_flopguard.measure.types import LatencyStats
from pytest_flopguard.results import ModelResult
from pytest_flopguard.run.gate import Gate
from pytest_flopguard.run.latency import IN_XDIST, ONNX, LatencyOptions, with_latency

MODELS = """
import torch


class Tiny(torch.nn.Module):
    def __init__(self, width=8, fail=False):
        super().__init__()
        self.fc = torch.nn.Linear(width, width)
        self.fail = fail

    def forward(self, x):
        if self.fail and not self.fc.weight.is_meta:  # counting builds it on meta; timing for real
            raise RuntimeError("needs a GPU")
        return self.fc(x)
"""

BUDGET = """version: 1
models:
  tiny:
    model: models:Tiny
    inputs: [[2, 8]]
    timing: {time: 0.3s}
    limits: {latency: {cpu: 1s, cuda: 1s}, flops: 1M}
"""


@pytest.fixture
def budget_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delitem(sys.modules, "models", raising=False)  # each test imports its own copy
    (tmp_path / "models.py").write_text(MODELS)
    path = tmp_path / "flopguard.yaml"
    path.write_text(BUDGET)
    return path


def tiny_bench() -> Bench:
    return Bench(torch.nn.Linear(8, 8).eval(), (torch.randn(2, 8),), {}, "cpu")


def test_stops_at_the_minimum_once_the_median_is_tight() -> None:
    assert len(time_bench(tiny_bench(), max_time=60, target=math.inf)) == MIN_SAMPLES


def test_stops_when_its_time_is_spent_even_if_never_tight() -> None:
    samples = time_bench(tiny_bench(), max_time=0.2, target=0.0)
    assert len(samples) >= 1 and all(s > 0 for s in samples)


def test_a_sample_averages_enough_calls_to_last_the_minimum() -> None:
    bench = tiny_bench()
    bench.warm_up(0.0, min_sample_s=0.05)  # a Linear(8, 8) call takes microseconds
    assert bench.calls_per_sample > 1
    bench.warm_up(0.0, min_sample_s=0.0)
    assert bench.calls_per_sample == 1
    assert len(bench.run_for(0.0)) == 1  # a turn holds at least one sample


def test_measure_spec_records_threads_and_environment_and_restores_threads(budget_path: Path) -> None:
    spec = load_budget(budget_path).model("tiny")
    before = torch.get_num_threads()
    stats = measure_spec(spec, budget_path.parent, "cpu")
    assert torch.get_num_threads() == before
    assert stats.threads == 1 and stats.environment["threads"] == "1"
    assert {"device", "cpu", "torch", "python"} <= set(stats.environment)
    assert stats.p10_s <= stats.median_s <= stats.p90_s and stats.samples >= 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_skipped_with_the_reason(budget_path: Path) -> None:
    assert unavailable("cpu") is None
    assert unavailable("cuda") == (
        "no CUDA device on this machine (torch.cuda.is_available() is False): latency on cuda not measured"
    )
    gate = Gate(load_budget(budget_path), latency=LatencyOptions(enabled=True))
    result = gate.measure("tiny")
    assert result.error is None
    assert set(result.latency) == {"cpu"} and "latency.cpu" in result.metrics
    assert result.skipped == {"latency.cuda": unavailable("cuda")}
    assert gate.comparison().exit_code == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_is_timed_with_events(budget_path: Path) -> None:  # pragma: no cover - CI has no GPU
    bench = Bench(torch.nn.Linear(256, 256).cuda().eval(), (torch.randn(64, 256, device="cuda"),), {}, "cuda")
    samples = time_bench(bench, max_time=1.0)
    assert samples and all(s > 0 for s in samples)
    assert "gpu" in latency.environment("cuda", 1)
    result = Gate(load_budget(budget_path), latency=LatencyOptions(enabled=True)).measure("tiny")
    assert result.error is None and not result.skipped
    assert set(result.latency) == {"cpu", "cuda"}
    assert result.latency["cuda"].environment["gpu"] == torch.cuda.get_device_name(0)


def test_latency_off_says_why_for_every_device(budget_path: Path) -> None:
    gate = Gate(load_budget(budget_path))  # the default: the pre-commit hook never times
    result = gate.measure("tiny")
    assert "latency.cpu" not in result.metrics
    assert set(result.skipped) == {"latency.cpu", "latency.cuda"}
    assert result.skipped["latency.cpu"].startswith("latency is measured by `flopguard measure`/`check`")
    off = with_latency(
        ModelResult(), load_budget(budget_path).model("tiny"), budget_path.parent, LatencyOptions(reason=IN_XDIST)
    )
    assert off.skipped["latency.cpu"] == IN_XDIST


def test_onnx_models_are_not_timed(budget_path: Path) -> None:
    from dataclasses import replace

    spec = replace(load_budget(budget_path).model("tiny"), model=None, onnx="m.onnx")
    result = with_latency(ModelResult(), spec, budget_path.parent, LatencyOptions(enabled=True))
    assert result.skipped["latency.cpu"] == ONNX


def test_paired_figures_are_used_instead_of_timing_again(budget_path: Path) -> None:
    spec = load_budget(budget_path).model("tiny")
    paired = {"cpu": LatencyStats(0.5, 0.4, 0.6, 99, 1)}
    result = with_latency(ModelResult(), spec, budget_path.parent, LatencyOptions(enabled=True), paired)
    assert result.metrics["latency.cpu"] == 0.5 and result.latency["cpu"].samples == 99


def test_a_model_that_cannot_run_for_real_is_an_error_not_a_skip(budget_path: Path) -> None:
    budget_path.write_text(BUDGET.replace("model: models:Tiny", "model: models:Tiny\n    kwargs: {fail: true}"))
    result = Gate(load_budget(budget_path), latency=LatencyOptions(enabled=True)).measure("tiny")
    assert result.error is not None
    assert result.error.message == "counted, but could not be timed on cpu with real weights: needs a GPU"
    assert result.error.where == "models.py:13"


def test_a_model_slower_than_its_time_budget_still_gets_one_sample() -> None:
    import time as clock

    class Slow(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            clock.sleep(0.05)
            return x

    # The warm-up's three calls alone spend the 0.01 s budget; before, no sample was taken.
    assert len(time_bench(Bench(Slow(), (torch.ones(1),), {}, "cpu"), max_time=0.01)) == 1
