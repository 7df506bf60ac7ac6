"""When and how latency is measured in a gate run: the adapter between `Gate` and `measure/`.

Counting and timing are separate. Latency is measured only for models whose
budget has a `latency` limit, by `flopguard measure` / `check` and
`pytest --flopguard`, never by the pre-commit hook, and never in pytest-xdist
workers (two timings at once would disturb each other). Where it is not
measured, each latency row says why (`skipped`), and never fails.

With a base (`--base`, or a pull request in Actions), `pair_latency` times
base and head interleaved in this job, in two worker processes, one in the
base worktree (importing the base's code, guarded like the base process of
`gitbase`) and one in the head checkout; the head's figures then carry the
decision. Without a base, a model is timed in this process, and its figure
is checked against its limits only.

Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_flopguard.budget.schema import Budget, ModelSpec
from pytest_flopguard.metrics import tolerance_for
from pytest_flopguard.results import ModelResult, Results

if TYPE_CHECKING:
    from pytest_flopguard.gitbase.measure_base import BaseCommit
    from pytest_flopguard.measure.types import LatencyStats
    from pytest_flopguard.workers.latency_pair import Side

Log = Callable[[str], None]
Pairs = dict[str, dict[str, tuple["LatencyStats", "LatencyStats"]]]  # model -> device -> (base, head)

NOT_HERE = "latency is measured by `flopguard measure`/`check` and `pytest --flopguard`, not in this run"
SWITCHED_OFF = "latency not measured: switched off (--no-latency / --flopguard-no-latency)"
IN_XDIST = "latency not measured in parallel runs (pytest -n): two timings at once disturb each other; run without -n"
ONNX = "ONNX models are not timed (no ONNX runtime is used); a `latency_estimate` limit applies to them"


@dataclass(frozen=True)
class LatencyOptions:
    """Whether this run measures latency (and if not, why), and a time per model overriding the budget's."""

    enabled: bool = False
    reason: str = NOT_HERE
    time: float | None = None


def with_latency(
    result: ModelResult,
    spec: ModelSpec,
    root: Path,
    options: LatencyOptions,
    paired: Mapping[str, LatencyStats] | None = None,
) -> ModelResult:
    """`result` with the latency of each device its budget names: measured, paired, or skipped with the reason."""
    if result.error is not None or not spec.latency_devices:
        return result
    metrics, stats, skipped = dict(result.metrics), dict(result.latency), dict(result.skipped)
    for device in spec.latency_devices:
        key = f"latency.{device}"
        found = (paired or {}).get(device)
        reason = _why_not(spec, device, options) if found is None else None
        if reason is not None:
            skipped[key] = reason
            continue
        try:
            found = found or _measure(spec, root, device, options)
        except Exception as exc:  # the user's model cannot run for real: a failing model, not a silent skip
            return _timing_failed(result, exc, device, root)
        metrics[key], stats[device] = found.median_s, found
    return replace(result, metrics=metrics, latency=stats, skipped=skipped)


def _why_not(spec: ModelSpec, device: str, options: LatencyOptions) -> str | None:
    if not options.enabled:
        return options.reason
    if spec.onnx is not None:
        return ONNX
    from pytest_flopguard.measure.latency.bench import unavailable

    return unavailable(device)


def _measure(spec: ModelSpec, root: Path, device: str, options: LatencyOptions) -> LatencyStats:
    from pytest_flopguard.measure.latency.bench import measure_spec

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return measure_spec(spec, root, device, options.time)


def _timing_failed(result: ModelResult, exc: Exception, device: str, root: Path) -> ModelResult:
    from pytest_flopguard.workers.faults import error_info

    info = error_info(exc, root)
    message = f"counted, but could not be timed on {device} with real weights: {info.message}"
    return replace(result, error=replace(info, message=message))


# --- base and head, interleaved -----------------------------------------------------


def pair_latency(
    budget: Budget, base: BaseCommit, names: Sequence[str] | None, options: LatencyOptions, log: Log
) -> Pairs:
    """Time each latency model of the head budget that the base also has, interleaved with the base."""
    specs = _timed_specs(budget, names) if options.enabled else []
    if not specs:
        return {}
    from pytest_flopguard.gitbase import measure_base as gitbase
    from pytest_flopguard.gitbase import process as baseprocess
    from pytest_flopguard.workers.latency_pair import Side

    relative = gitbase.relative_budget(budget.path, base.root)
    pairs: Pairs = {}
    with gitbase.checkout(base) as tree:
        base_budget = tree / relative
        in_base = set(gitbase.base_models(base_budget, None, lambda message: None))
        base_side = Side(base_budget, baseprocess.environment(base.root, tree), tree, base.root)
        for spec in (s for s in specs if s.name in in_base):
            pairs[spec.name] = _pair_model(spec, base_side, Side(budget.path), options, log)
    return {name: devices for name, devices in pairs.items() if devices}


def _timed_specs(budget: Budget, names: Sequence[str] | None) -> list[ModelSpec]:
    wanted = [s for s in budget.models if names is None or s.name in names]
    return [s for s in wanted if s.latency_devices and s.model is not None and not s.errors]


def _pair_model(
    spec: ModelSpec, base: Side, head: Side, options: LatencyOptions, log: Log
) -> dict[str, tuple[LatencyStats, LatencyStats]]:
    from pytest_flopguard.measure.latency.bench import DEFAULT_TIME, unavailable
    from pytest_flopguard.workers.latency_pair import WorkerError, compare_latency

    seconds = options.time or spec.timing.time or DEFAULT_TIME
    out: dict[str, tuple[LatencyStats, LatencyStats]] = {}
    for device in (d for d in spec.latency_devices if unavailable(d) is None):
        tolerance = tolerance_for(spec.tolerance, f"latency.{device}") or 0.0
        log(f"flopguard: timing {spec.name} on {device}: base and head interleaved, {seconds:g}s")
        try:
            out[device] = compare_latency(base, head, spec.name, device, seconds, tolerance)
        except WorkerError as exc:
            log(f"flopguard: warning: {spec.name}: {exc.message}; its latency is checked against its limits only")
    return out


def head_figures(pairs: Pairs) -> dict[str, dict[str, LatencyStats]]:
    """The head's side of each pair: what `with_latency` uses instead of timing again."""
    return {name: {device: pair[1] for device, pair in devices.items()} for name, devices in pairs.items()}


def with_base_figures(base: Results, pairs: Pairs) -> Results:
    """The base results with the base's side of each pair (measured in this job, beside the head)."""
    models = dict(base.models)
    for name, devices in pairs.items():
        old = models.get(name)
        if old is None or old.error is not None:
            continue
        metrics = {**old.metrics, **{f"latency.{d}": pair[0].median_s for d, pair in devices.items()}}
        latency = {**old.latency, **{d: pair[0] for d, pair in devices.items()}}
        models[name] = replace(old, metrics=metrics, latency=latency)
    return replace(base, models=models)
