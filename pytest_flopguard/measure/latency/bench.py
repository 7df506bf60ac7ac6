"""Wall time of one forward pass: real weights, real inputs, one thread, many samples.

The model is built with random weights (seed 0, so every run builds the same
model) on the device, in eval mode under `torch.inference_mode`, fed the
budget's inputs (`runner.make_inputs`). It is warmed up, then timed until
the median is known to `TARGET_HALFWIDTH` (the relative half-width of its
95% interval) or the model's time is spent. A sample is the mean of `k`
back-to-back calls, `k` chosen so that a sample lasts at least
`min_sample_s`: the timer's resolution and its own cost then do not matter.
CUDA is timed with events after a synchronisation; a budget that names
`cuda` on a machine without it is skipped with the reason, never failed.

One thread by default (`timing: {threads: N}` raises it), set for the
measurement and restored after: on a shared 2-core runner 2-thread latency
swung from 7 to 92 ms with the neighbours' load (notes/latency.md).

Comparing base and head is `workers/latency_pair.py`'s job; a figure from here is
checked against absolute limits only.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from pytest_flopguard.budget.schema import ModelSpec
from pytest_flopguard.measure.environment import environment
from pytest_flopguard.measure.latency import stats as latency_stats
from pytest_flopguard.measure.types import LatencyStats

DEFAULT_TIME = 10.0  # seconds per model and device (notes/latency.md: 0% false alarms at 10 s per decision)
TARGET_HALFWIDTH = 0.01  # stop once the median is known to +-1%
MIN_SAMPLES = 20
MIN_SAMPLE_S = 0.001


def unavailable(device: str) -> str | None:
    """Why `device` cannot be timed on this machine, or None."""
    if not device.startswith("cuda"):
        return None
    if not torch.cuda.is_available():
        return f"no CUDA device on this machine (torch.cuda.is_available() is False): latency on {device} not measured"
    index = torch.device(device).index
    if index is not None and index >= torch.cuda.device_count():
        return f"{device} not present: this machine has {torch.cuda.device_count()} CUDA device(s)"
    return None


class Bench:
    """One model, ready to be called and timed on one device."""

    def __init__(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], device: str) -> None:
        self.call: Callable[[], Any] = lambda: model(*args, **kwargs)
        self.cuda = torch.device(device).type == "cuda"
        self.calls_per_sample = 1

    def warm_up(self, seconds: float, min_sample_s: float = MIN_SAMPLE_S) -> None:
        """Run for `seconds` (at least 3 calls), then choose the calls per sample."""
        started, times = time.perf_counter(), list[float]()
        while len(times) < 3 or time.perf_counter() - started < seconds:
            times.append(self._timed(1))
        typical = latency_stats.quantile(times[-10:], 0.5)
        self.calls_per_sample = max(1, math.ceil(min_sample_s / max(typical, 1e-9)))

    def sample(self) -> float:
        """Seconds per call: the mean of `calls_per_sample` back-to-back calls."""
        return self._timed(self.calls_per_sample) / self.calls_per_sample

    def run_for(self, seconds: float) -> list[float]:
        """Samples for about `seconds` (at least one): one turn of an interleaved measurement."""
        started, out = time.perf_counter(), [self.sample()]
        while time.perf_counter() - started < seconds:
            out.append(self.sample())
        return out

    def _timed(self, calls: int) -> float:
        with torch.inference_mode():
            if not self.cuda:
                start = time.perf_counter()
                for _ in range(calls):
                    self.call()
                return time.perf_counter() - start
            torch.cuda.synchronize()  # nothing earlier may run inside the interval
            begin = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            begin.record()
            for _ in range(calls):
                self.call()
            end.record()
            end.synchronize()
            return float(begin.elapsed_time(end)) / 1000  # milliseconds -> seconds


def load_bench(spec: ModelSpec, root: Path, device: str) -> Bench:
    """Build `spec`'s model with real (random, seeded) weights on `device`, and its inputs."""
    from pytest_flopguard.measure.factory import importable, in_dtype, load_object, make_inputs

    assert spec.model is not None  # ONNX models are not timed
    with importable(root):
        factory = load_object(spec.model, "model")
        torch.manual_seed(0)
        with torch.device(device):
            model = in_dtype(factory(**spec.kwargs), spec.dtype)  # a dtype variant is timed in its dtype
        model.eval()
        torch.manual_seed(0)
        args, kwargs = make_inputs(spec.inputs, torch.device(device), model, spec.dtype)
    return Bench(model, tuple(args), dict(kwargs), device)


def time_bench(bench: Bench, max_time: float, target: float = TARGET_HALFWIDTH) -> list[float]:
    """Warm up, then sample until the median is tight or `max_time` is spent."""
    started = time.perf_counter()
    bench.warm_up(min(1.0, 0.1 * max_time))
    samples: list[float] = []
    # At least one sample, however long the warm-up took: a slow model gets a
    # (wide) figure, not "could not be timed".
    while not samples or time.perf_counter() - started < max_time:
        samples.append(bench.sample())
        checked = len(samples) >= MIN_SAMPLES and len(samples) % 10 == 0  # sorting every sample costs
        if checked and latency_stats.median_halfwidth(samples) < target:
            break
    return samples


def measure_spec(spec: ModelSpec, root: Path, device: str, max_time: float | None = None) -> LatencyStats:
    """The latency of `spec` on `device` (check `unavailable(device)` first)."""
    threads = spec.timing.threads
    with num_threads(threads):
        bench = load_bench(spec, root, device)
        samples = time_bench(bench, max_time or spec.timing.time or DEFAULT_TIME)
    return latency_stats.summarize(samples, threads, bench.calls_per_sample, environment(device, threads))


@contextlib.contextmanager
def num_threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


