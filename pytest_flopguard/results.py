"""The versioned results file: the contract between plugin, CLI and Action.

```
{"schema": 1, "tool": {...}, "convention": {...}, "env": {...},
 "git": {"commit", "ref", "dirty", "budget": "packages/vision/flopguard.yaml"},
 "budget": "flopguard.yaml",
 "models": {NAME: {"metrics": {...}, "modules": [...], "ops": {...},
                   "uncounted_ops": {...}, "execution": "meta", "notes": [...],
                   "data_dependent": null | "aten.nonzero at file:line",
                   "error": null | {"type", "message", ...},
                   "limits": {...}, "tolerance": {...}, "floor": {...},
                   "skipped": {"latency.cuda": "why"}, "estimate_basis": {"t4": "how"}}}}
```
Inside the program metrics are a flat mapping (`latency.cpu` -> seconds, the
median; its spread is in `ModelResult.latency`); in the file per-device metrics
nest as SPEC shows: `"latency": {"cpu": {"median_s", "p10_s", "p90_s",
"samples", "threads", "environment", "versus_base"?}}`,
`"latency_estimate": {"t4": 0.0041}`. Writes are atomic. Reads check every
field against `results_shape.RESULTS_SHAPE` first (`results_json.py`: the codec). `budget` is the file as
the run named it, `git.budget` its path in the repository (the key of its
pull request comment).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flopguard import __version__
from pytest_flopguard.budget.schema import Variant
from pytest_flopguard.errors import ResultsError
from pytest_flopguard.measure.types import FLOP_CONVENTION, LatencyStats, ModuleStats, OpStats

SCHEMA = 1
# ErrorInfo.type of a base model whose code was imported from outside the
# base checkout (an editable install of the head): its figures are the head's.
SHADOWED_IMPORT = "ShadowedImport"


@dataclass(frozen=True)
class ErrorInfo:
    """Why a model has no figures: its exception, or its budget entry's error."""

    type: str
    message: str
    code: str | None = None
    fix: str | None = None
    where: str | None = None  # budget location, or the model's own source line
    # The user's own frames of the exception, trimmed (`workers.faults.user_traceback`); never ours.
    traceback: str | None = None


@dataclass(frozen=True)
class HistoryRef:
    """A metric's figures in the recorded history (`run/history.py`): the oldest one the
    budget's `since:`/`drift_window:` allow, and the best (lowest), each with its commit or tag."""

    first: float
    first_at: str
    best: float
    best_at: str
    entries: int


@dataclass(frozen=True)
class TrendPoint:
    """A model's FLOPs at one recorded commit (its tag or short SHA): the comment's trend chart."""

    label: str
    flops: float


@dataclass(frozen=True)
class ModelResult:
    metrics: Mapping[str, float] = field(default_factory=dict)
    modules: tuple[ModuleStats, ...] = ()
    ops: Mapping[str, OpStats] = field(default_factory=dict)
    uncounted_ops: Mapping[str, int] = field(default_factory=dict)
    execution: str | None = None
    notes: tuple[str, ...] = ()
    data_dependent: str | None = None  # `Measurement.data_dependent`: the op and line, or None
    error: ErrorInfo | None = None
    output: str = ""  # what the factory/forward printed, neutralised later
    # The budget entry travels with the figures, so two results files alone
    # can be compared (the fork-safe comment job has nothing else).
    limits: Mapping[str, float] = field(default_factory=dict)
    tolerance: Mapping[str, float] = field(default_factory=dict)
    limit_lines: Mapping[str, int] = field(default_factory=dict)
    floor: Mapping[str, float] = field(default_factory=dict)
    # Per device: the spread behind each `latency.<device>` median in `metrics`.
    latency: Mapping[str, LatencyStats] = field(default_factory=dict)
    # Flat metric key -> why it was not measured (no CUDA here, --no-latency, ...).
    skipped: Mapping[str, str] = field(default_factory=dict)
    # `latency_estimate` target -> how it was estimated (profile, peaks, data sheet).
    estimate_basis: Mapping[str, str] = field(default_factory=dict)
    # A variant of a model family (`detector[1280-bf16]`): its family, resolution, batch, dtype.
    variant: Variant | None = None
    accuracy: float | None = None  # the budget's figure for the plot; never gated
    # What the deterministic figures depend on (`changes.inputs_hash`): the next
    # run reuses them while it is unchanged; `reused` says this run did.
    inputs_hash: str | None = None
    reused: bool = False
    seconds: float | None = None  # time spent measuring it (a timing: balances shards)
    # The budget's history settings (`drift: {flops: 10%}`, `ratchet: true`) and, per metric,
    # the recorded history's references to judge them by (`run/history.py`).
    drift: Mapping[str, float] = field(default_factory=dict)
    ratchet: bool = False
    history: Mapping[str, HistoryRef] = field(default_factory=dict)
    trend: tuple[TrendPoint, ...] = ()  # the last recorded FLOPs, oldest first


@dataclass(frozen=True)
class Results:
    models: Mapping[str, ModelResult]
    env: Mapping[str, Any] = field(default_factory=dict)
    git: Mapping[str, Any] = field(default_factory=dict)
    budget: str | None = None
    # Every model the budget names, measured or not: a model left out by
    # `-k` or a shard is "not run", not "removed".
    budget_models: tuple[str, ...] = ()
    convention: str = FLOP_CONVENTION
    tool_version: str = __version__


# --- the file ------------------------------------------------------------------


def write_results(results: Results, path: str | os.PathLike[str]) -> Path:
    """Write atomically: a reader sees the old file or the new one, never half."""
    from pytest_flopguard.results_json import to_json

    return write_text_atomic(path, json.dumps(to_json(results), indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_results(path: str | os.PathLike[str]) -> Results:
    """Read a results file; another schema version is a clear `ResultsError`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(
            "FG200", f"results file {path} not found", fix="run `flopguard measure --json FILE` first"
        ) from None
    except (OSError, ValueError) as exc:
        raise ResultsError(
            "FG201",
            f"results file {path} is not valid JSON ({exc})",
            fix="regenerate it with `flopguard measure --json FILE`",
        ) from None
    from pytest_flopguard.results_json import from_json

    return from_json(data, str(path))


def previous_results(path: str | os.PathLike[str]) -> Results | None:
    """A results file about to be rewritten (a baseline), if it exists and is readable."""
    try:
        return read_results(path) if Path(path).is_file() else None
    except ResultsError:  # another schema or corrupt: the rewrite replaces it
        return None
