"""The results file as JSON: `to_json` and `from_json`, and the nesting of per-device metrics.

In the program metrics are flat (`latency.cpu` -> seconds); in the file they nest as
SPEC shows (`"latency": {"cpu": {"median_s", ...}}`). `from_json` checks the whole
document against `results_shape.RESULTS_SHAPE` before it reads a value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from pytest_flopguard import __version__
from pytest_flopguard.budget.schema import Variant
from pytest_flopguard.errors import ResultsError
from pytest_flopguard.measure.types import LatencyStats, ModuleStats, OpStats, VersusBase
from pytest_flopguard.metrics import METRICS
from pytest_flopguard.results import SCHEMA, ErrorInfo, HistoryRef, ModelResult, Results, TrendPoint
from pytest_flopguard.shape import ShapeError, check


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


def model_to_json(result: ModelResult) -> dict[str, Any]:
    """One model as its results-file entry (what a pool worker sends back)."""
    return _model_json(result)


def model_from_json(entry: dict[str, Any]) -> ModelResult:
    """The inverse of `model_to_json`."""
    return _model_from_json(entry)


def _model_json(result: ModelResult) -> dict[str, Any]:
    return {
        "metrics": nest_metrics(result.metrics, result.latency),
        "modules": [asdict(m) for m in result.modules],
        "ops": {name: asdict(op) for name, op in sorted(result.ops.items())},
        "uncounted_ops": dict(sorted(result.uncounted_ops.items())),
        "execution": result.execution,
        "notes": list(result.notes),
        "data_dependent": result.data_dependent,
        "error": asdict(result.error) if result.error else None,
        "output": result.output,
        "limits": nest_limits(result.limits),
        "tolerance": dict(result.tolerance),
        "limit_lines": dict(result.limit_lines),
        "floor": dict(result.floor),
        "skipped": dict(result.skipped),
        "estimate_basis": dict(result.estimate_basis),
        **_variant_json(result),
        **_history_json(result),
    }


def _history_json(result: ModelResult) -> dict[str, Any]:
    """`"drift"`, `"ratchet"` and `"history"`, only where the budget asks for the history."""
    out: dict[str, Any] = {}
    if result.drift:
        out["drift"] = dict(result.drift)
    if result.ratchet:
        out["ratchet"] = True
    if result.history:
        out["history"] = {key: asdict(ref) for key, ref in sorted(result.history.items())}
    if result.trend:
        out["trend"] = [asdict(point) for point in result.trend]
    return out


def _variant_json(result: ModelResult) -> dict[str, Any]:
    """`"variant"` and `"accuracy"`, only where the budget gave them."""
    out: dict[str, Any] = {}
    if result.variant is not None:
        out["variant"] = asdict(result.variant)
    if result.accuracy is not None:
        out["accuracy"] = result.accuracy
    if result.inputs_hash is not None:
        out["inputs_hash"] = result.inputs_hash
    if result.reused:
        out["reused"] = True
    if result.seconds is not None:
        out["seconds"] = round(result.seconds, 4)
    return out


def _variant_from_json(data: Mapping[str, Any] | None) -> Variant | None:
    if not data:
        return None
    resolution = data.get("resolution")
    return Variant(
        family=str(data["family"]),
        id=str(data["id"]),
        resolution=(int(resolution[0]), int(resolution[1])) if resolution else None,
        batch=data.get("batch"),
        dtype=data.get("dtype"),
        group=str(data.get("group", "")),
    )


def nest_metrics(flat: Mapping[str, float], latency: Mapping[str, LatencyStats] | None = None) -> dict[str, Any]:
    """`{"latency.cpu": 0.02}` -> `{"latency": {"cpu": {"median_s": 0.02, "p10_s": ...}}}`."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        name, _, device = key.partition(".")
        if not device:
            out[name] = value
        elif name == "latency":
            stats = (latency or {}).get(device)
            out.setdefault(name, {})[device] = _latency_json(stats) if stats else {"median_s": value}
        else:
            out.setdefault(name, {})[device] = value
    return out


def _latency_json(stats: LatencyStats) -> dict[str, Any]:
    data = asdict(stats)
    if data["versus_base"] is None:
        del data["versus_base"]
    return data


def _latency_from_json(data: Mapping[str, Any]) -> LatencyStats | None:
    """The full figures of one device, if the file has more than a median."""
    if "p10_s" not in data:
        return None
    versus = data.get("versus_base")
    fields = {k: v for k, v in data.items() if k != "versus_base"}
    return LatencyStats(**fields, versus_base=VersusBase(**versus) if versus else None)


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
    from pytest_flopguard.results_shape import RESULTS_SHAPE

    try:
        check(data, RESULTS_SHAPE)
    except ShapeError as exc:
        raise ResultsError(
            "FG202",
            f"{source} is malformed: {exc}",
            fix="regenerate it with `flopguard measure --json FILE`; results files are not edited by hand",
        ) from None
    return Results(
        models={name: _model_from_json(entry) for name, entry in data["models"].items()},
        env=data.get("env", {}),
        git=data.get("git", {}),
        budget=data.get("budget"),
        budget_models=tuple(data.get("budget_models", ())),
        convention=data["convention"]["flops"],
        tool_version=data["tool"]["version"],
    )


def _model_from_json(entry: dict[str, Any]) -> ModelResult:
    error = entry.get("error")
    return ModelResult(
        metrics=flatten_metrics(entry.get("metrics", {})),
        modules=tuple(ModuleStats(**m) for m in entry.get("modules", [])),
        ops={name: OpStats(**op) for name, op in entry.get("ops", {}).items()},
        uncounted_ops={str(k): int(v) for k, v in entry.get("uncounted_ops", {}).items()},
        execution=entry.get("execution"),
        notes=tuple(entry.get("notes", [])),
        data_dependent=entry.get("data_dependent"),
        error=ErrorInfo(**error) if error else None,
        output=entry.get("output", ""),
        limits=flatten_metrics(entry.get("limits", {})),
        tolerance={str(k): number(v) for k, v in entry.get("tolerance", {}).items()},
        limit_lines={str(k): int(v) for k, v in entry.get("limit_lines", {}).items()},
        floor={str(k): number(v) for k, v in entry.get("floor", {}).items()},
        latency={
            str(device): stats
            for device, sub in entry.get("metrics", {}).get("latency", {}).items()
            if (stats := _latency_from_json(sub)) is not None
        },
        skipped={str(k): str(v) for k, v in entry.get("skipped", {}).items()},
        estimate_basis={str(k): str(v) for k, v in entry.get("estimate_basis", {}).items()},
        variant=_variant_from_json(entry.get("variant")),
        accuracy=float(entry["accuracy"]) if entry.get("accuracy") is not None else None,
        inputs_hash=str(entry["inputs_hash"]) if entry.get("inputs_hash") else None,
        reused=bool(entry.get("reused", False)),
        seconds=float(entry["seconds"]) if entry.get("seconds") is not None else None,
        drift={str(k): number(v) for k, v in entry.get("drift", {}).items()},
        ratchet=bool(entry.get("ratchet", False)),
        history={str(k): HistoryRef(**ref) for k, ref in entry.get("history", {}).items()},
        trend=tuple(TrendPoint(**point) for point in entry.get("trend", [])),
    )


def flatten_metrics(nested: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in nested.items():
        if name not in METRICS:
            continue  # a newer tool's metric: ignore rather than fail
        if isinstance(value, Mapping):
            for device, sub in value.items():
                out[f"{name}.{device}"] = number(sub["median_s"] if isinstance(sub, Mapping) else sub)
        else:
            out[name] = number(value)
    return out


def number(value: Any) -> float:
    """A finite int or float from a results file; anything else makes the file malformed.

    Results files cross a trust boundary (the fork-safe comment job reads an
    artifact a pull request produced), so `"12"`, `true` or NaN are refused
    here rather than failing later inside a comparison.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return value
