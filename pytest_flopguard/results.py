"""The versioned results file: the contract between plugin, CLI and Action.

```
{"schema": 1, "tool": {...}, "convention": {...}, "env": {...}, "git": {...},
 "budget": "flopguard.yaml",
 "models": {NAME: {"metrics": {...}, "modules": [...], "ops": {...},
                   "uncounted_ops": {...}, "execution": "meta", "notes": [...],
                   "error": null | {"type", "message", ...},
                   "limits": {...}, "tolerance": {...}, "floor": {...}}}}
```
Inside the program metrics are a flat mapping (`latency.cpu` -> seconds);
in the file per-device metrics nest as SPEC shows. Writes are atomic.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_flopguard import __version__
from pytest_flopguard.errors import ResultsError
from pytest_flopguard.measure.types import FLOP_CONVENTION, ModuleStats, OpStats
from pytest_flopguard.metrics import METRICS

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


@dataclass(frozen=True)
class ModelResult:
    metrics: Mapping[str, float] = field(default_factory=dict)
    modules: tuple[ModuleStats, ...] = ()
    ops: Mapping[str, OpStats] = field(default_factory=dict)
    uncounted_ops: Mapping[str, int] = field(default_factory=dict)
    execution: str | None = None
    notes: tuple[str, ...] = ()
    error: ErrorInfo | None = None
    output: str = ""  # what the factory/forward printed, neutralised later
    # The budget entry travels with the figures, so two results files alone
    # can be compared (the fork-safe comment job has nothing else).
    limits: Mapping[str, float] = field(default_factory=dict)
    tolerance: Mapping[str, float] = field(default_factory=dict)
    limit_lines: Mapping[str, int] = field(default_factory=dict)
    floor: Mapping[str, float] = field(default_factory=dict)


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


# --- writing ------------------------------------------------------------------


def to_json(results: Results) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "tool": {"name": "pytest-flopguard", "version": results.tool_version},
        "convention": {"flops": results.convention},
        "env": dict(results.env),
        "git": dict(results.git),
        "budget": results.budget,
        "budget_models": list(results.budget_models),
        "models": {name: _model_json(r) for name, r in sorted(results.models.items())},
    }


def _model_json(result: ModelResult) -> dict[str, Any]:
    return {
        "metrics": nest_metrics(result.metrics),
        "modules": [asdict(m) for m in result.modules],
        "ops": {name: asdict(op) for name, op in sorted(result.ops.items())},
        "uncounted_ops": dict(sorted(result.uncounted_ops.items())),
        "execution": result.execution,
        "notes": list(result.notes),
        "error": asdict(result.error) if result.error else None,
        "output": result.output,
        "limits": nest_limits(result.limits),
        "tolerance": dict(result.tolerance),
        "limit_lines": dict(result.limit_lines),
        "floor": dict(result.floor),
    }


def nest_metrics(flat: Mapping[str, float]) -> dict[str, Any]:
    """`{"latency.cpu": 0.02}` -> `{"latency": {"cpu": {"median_s": 0.02}}}`."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        name, _, device = key.partition(".")
        if not device:
            out[name] = value
        elif name == "latency":
            out.setdefault(name, {})[device] = {"median_s": value}
        else:
            out.setdefault(name, {})[device] = value
    return out


def nest_limits(flat: Mapping[str, float]) -> dict[str, Any]:
    """Limits nest by device as in the budget file: `{"latency": {"cpu": 0.025}}`."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        name, _, device = key.partition(".")
        if device:
            out.setdefault(name, {})[device] = value
        else:
            out[name] = value
    return out


def write_results(results: Results, path: str | os.PathLike[str]) -> Path:
    """Write atomically: a reader sees the old file or the new one, never half."""
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


# --- reading ------------------------------------------------------------------


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
    return from_json(data, str(path))


def previous_results(path: str | os.PathLike[str]) -> Results | None:
    """A results file about to be rewritten (a baseline), if it exists and is readable."""
    try:
        return read_results(path) if Path(path).is_file() else None
    except ResultsError:  # another schema or corrupt: the rewrite replaces it
        return None


def from_json(data: Any, source: str = "results") -> Results:
    if not isinstance(data, dict) or "schema" not in data:
        raise ResultsError(
            "FG202",
            f"{source} is not a pytest-flopguard results file",
            fix="pass a file written by `flopguard measure --json`",
        )
    if data["schema"] != SCHEMA:
        raise ResultsError(
            "FG203",
            f"{source} has results schema {data['schema']!r}; this pytest-flopguard {__version__} reads schema {SCHEMA}",
            fix="regenerate the file with this version, or install the version that wrote it",
        )
    try:
        models = {str(name): _model_from_json(entry) for name, entry in data["models"].items()}
        return Results(
            models=models,
            env=data.get("env", {}),
            git=data.get("git", {}),
            budget=data.get("budget"),
            budget_models=tuple(data.get("budget_models", ())),
            convention=data["convention"]["flops"],
            tool_version=data["tool"]["version"],
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ResultsError(
            "FG202",
            f"{source} is malformed ({type(exc).__name__}: {exc})",
            fix="regenerate it with `flopguard measure --json FILE`",
        ) from None


def _model_from_json(entry: dict[str, Any]) -> ModelResult:
    error = entry.get("error")
    return ModelResult(
        metrics=flatten_metrics(entry.get("metrics", {})),
        modules=tuple(ModuleStats(**m) for m in entry.get("modules", [])),
        ops={name: OpStats(**op) for name, op in entry.get("ops", {}).items()},
        uncounted_ops={str(k): int(v) for k, v in entry.get("uncounted_ops", {}).items()},
        execution=entry.get("execution"),
        notes=tuple(entry.get("notes", [])),
        error=ErrorInfo(**error) if error else None,
        output=entry.get("output", ""),
        limits=flatten_metrics(entry.get("limits", {})),
        tolerance={str(k): float(v) for k, v in entry.get("tolerance", {}).items()},
        limit_lines={str(k): int(v) for k, v in entry.get("limit_lines", {}).items()},
        floor={str(k): float(v) for k, v in entry.get("floor", {}).items()},
    )


def flatten_metrics(nested: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in nested.items():
        if name not in METRICS:
            continue  # a newer tool's metric: ignore rather than fail
        if isinstance(value, Mapping):
            for device, sub in value.items():
                out[f"{name}.{device}"] = float(sub["median_s"] if isinstance(sub, Mapping) else sub)
        else:
            out[name] = value
    return out
