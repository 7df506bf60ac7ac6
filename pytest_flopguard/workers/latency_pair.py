"""Base against head latency: two worker processes taking turns, then a decision.

A stored baseline from another run is useless for latency on a shared
runner (identical code measured 0.1x to 2.5x, notes/latency.md), and so is
"base first, then head". Here each side is a long-lived process holding its
model (`latency_worker.py`); they take turns of about `TURN` seconds,
alternating which goes first, until the time is spent, so both see the same
neighbours. `latency_stats.decide` then answers regressed / ok /
inconclusive from the confidence interval of the head/base ratio.

Two identical processes can still run at a steady offset from each other
for a minute (up to +14%), which no interleaving removes; so a regression
is only reported when a second measurement, in fresh processes, flags it
too. In the experiments this removed every remaining false alarm.

Torch-free: the workers import torch, the coordinator only reads numbers.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.measure.latency import stats as latency_stats
from pytest_flopguard.measure.types import LatencyStats, VersusBase

TURN = 0.1  # seconds per turn
READY_TIMEOUT = 600.0  # importing torch and building a large model can take minutes
_BOOTSTRAP = (
    "import sys; p = sys.path[:]; sys.path.insert(0, {root!r}); "
    "import pytest_flopguard.workers.latency_worker as w; sys.path[:] = p; sys.exit(w.main())"
)


@dataclass(frozen=True)
class Side:
    """Where one side's worker runs: its budget file, folder, environment, import guard."""

    budget: Path
    env: Mapping[str, str] | None = None  # None: this process's environment
    require_under: Path | None = None  # the base checkout: its model's code must come from there
    head_checkout: Path | None = None


class WorkerError(FlopguardError):
    """A worker could not build or time its model; `side` says which."""


@dataclass(frozen=True)
class Samples:
    base: list[float]
    head: list[float]
    environments: tuple[dict[str, str], dict[str, str]]
    calls_per_sample: tuple[int, int]


def interleaved(base: Side, head: Side, model: str, device: str, seconds: float, turn: float = TURN) -> Samples:
    """Samples of both sides, taken in alternating turns for `seconds` (after both are ready)."""
    with _worker(base, model, device) as b, _worker(head, model, device) as h:
        ready_b, ready_h = b.ready("base"), h.ready("head")
        # Both sides average the same number of calls per sample: a median of
        # means of k calls shifts with k on skewed timings.
        calls = int(ready_b["calls_per_sample"])
        samples: dict[_Worker, list[float]] = {b: [], h: []}
        started, rounds = time.monotonic(), 0
        while time.monotonic() - started < seconds:
            for worker in (b, h) if rounds % 2 == 0 else (h, b):
                samples[worker] += worker.run(turn, calls)
            rounds += 1
    return Samples(samples[b], samples[h], (ready_b["environment"], ready_h["environment"]), (calls, calls))


def compare_latency(
    base: Side, head: Side, model: str, device: str, seconds: float, tolerance: float, confidence: float = 0.95
) -> tuple[LatencyStats, LatencyStats]:
    """Base and head figures; the head's carries the decision in `versus_base`.

    A first "regressed" is confirmed by a second measurement in fresh
    processes; only if both flag it does it stand (else it is inconclusive).
    """
    first = interleaved(base, head, model, device, seconds)
    decision = latency_stats.decide(first.base, first.head, tolerance, confidence)
    final, confirmed = first, None
    if decision.verdict == "regressed":
        final = interleaved(base, head, model, device, seconds)
        second = latency_stats.decide(final.base, final.head, tolerance, confidence)
        confirmed = second.verdict == "regressed"
        decision = second if confirmed else _unconfirmed(decision, second)
    base_stats = _stats(final.base, final.environments[0], final.calls_per_sample[0])
    estimate = decision.estimate
    versus = VersusBase(
        verdict=decision.verdict,
        ratio=estimate.ratio if estimate else None,
        low=estimate.low if estimate else None,
        high=estimate.high if estimate else None,
        confidence=confidence,
        tolerance=tolerance,
        reason=decision.reason,
        confirmed=confirmed,
        base_median_s=base_stats.median_s,
    )
    head_stats = _stats(final.head, final.environments[1], final.calls_per_sample[1])
    return base_stats, replace(head_stats, versus_base=versus)


def _unconfirmed(
    first: latency_stats.LatencyDecision, second: latency_stats.LatencyDecision
) -> latency_stats.LatencyDecision:
    reason = (
        f"not confirmed: the first measurement flagged it ({first.reason}), fresh processes did not ({second.reason})"
    )
    return latency_stats.LatencyDecision("inconclusive", second.estimate, reason)


def _stats(samples: list[float], environment: dict[str, str], calls: int) -> LatencyStats:
    return latency_stats.summarize(samples, int(environment.get("threads", "1")), calls, environment)


# --- one worker ------------------------------------------------------------------


class _Worker:
    def __init__(self, proc: subprocess.Popen[bytes], errors: IO[bytes]) -> None:
        self.proc = proc
        self.errors = errors

    def ready(self, side: str) -> dict[str, Any]:
        reply = self._read(READY_TIMEOUT, side)
        if "error" in reply:
            error = reply["error"]
            where = f" at {error['where']}" if error.get("where") else ""
            raise WorkerError(
                error.get("code") or "FG341",
                f"the {side} could not be timed{where}: {error['type']}: {error['message']}",
                fix=error.get("fix") or "run `flopguard measure` on that checkout to see the model's error",
            )
        return reply

    def run(self, seconds: float, calls: int) -> list[float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"run": seconds, "calls": calls}) + "\n").encode())
        self.proc.stdin.flush()
        return [float(x) for x in self._read(max(600.0, 100 * seconds), "worker")["samples"]]

    def _read(self, timeout: float, side: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else b""
        if not line:
            self.errors.seek(0)
            tail = self.errors.read()[-2000:].decode(errors="replace").strip()
            raise WorkerError(
                "FG341",
                f"the {side} latency worker {'timed out' if not readable else 'died'}: {tail or 'no output'}",
                fix="run `flopguard measure` on that checkout to see why",
            )
        return dict(json.loads(line))


@contextlib.contextmanager
def _worker(side: Side, model: str, device: str) -> Iterator[_Worker]:
    argv = [sys.executable, "-c", _BOOTSTRAP.format(root=str(Path(__file__).resolve().parents[2]))]
    argv += ["--budget", str(side.budget), "--model", model, "--device", device]
    if side.require_under is not None:
        argv += ["--require-under", str(side.require_under)]
    if side.head_checkout is not None:
        argv += ["--head-checkout", str(side.head_checkout)]
    env = dict(side.env) if side.env is not None else None
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            argv,
            cwd=side.budget.parent,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,  # its own process group: it dies with us
        )
        try:
            yield _Worker(proc, errors)
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        assert proc.stdin is not None
        proc.stdin.close()  # end of input: the worker exits
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
