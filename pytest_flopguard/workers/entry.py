"""Measure one budget entry: import its factory, make its inputs, count.

Anything that goes wrong in the user's code (import, factory, forward) is
recorded on that model as an `ErrorInfo`, with the user's own source line;
the caller goes on with the other models.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_flopguard.budget.schema import ModelSpec
from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.measure.factory import importable, in_dtype, load_object, make_inputs
from pytest_flopguard.measure.types import Measurement
from pytest_flopguard.results import ErrorInfo, ModelResult
from pytest_flopguard.workers.faults import error_info

if TYPE_CHECKING:
    from pytest_flopguard.measure.latency.roofline import Estimate

MAX_OUTPUT = 4000  # characters of a model's printed output kept in results


def measure_model(spec: ModelSpec, root: Path, capture: bool = True) -> ModelResult:
    """Measure `spec`, never raising for problems in the model or its entry.

    `capture=False` leaves prints alone: a pool worker captures them at the
    file-descriptor level itself (`workers/pool_worker.py`).
    """
    return with_entry(_measured(spec, root, capture), spec)


def with_entry(result: ModelResult, spec: ModelSpec) -> ModelResult:
    """The budget entry on the figures, so two results files alone can be compared; the
    parent puts its own on a worker's answer (it may have narrowed it: the pre-commit hook)."""
    return replace(
        result,
        limits=spec.limits,
        tolerance=spec.tolerance,
        floor=spec.floor,
        limit_lines=spec.limit_lines,
        variant=spec.variant,
        accuracy=spec.accuracy,
        drift=spec.history.drift,
        ratchet=spec.history.ratchet,
    )


def _measured(spec: ModelSpec, root: Path, capture: bool) -> ModelResult:
    if spec.errors:
        first = spec.errors[0]
        info = ErrorInfo(
            "BudgetError", "; ".join(e.message for e in spec.errors), first.code, first.fix, str(first.location)
        )
        return ModelResult(error=info)
    output = io.StringIO()
    try:
        with _captured(output) if capture else contextlib.nullcontext(), importable(root):
            measurement = _count(spec, root)
    except Exception as exc:  # the user's code: record, don't crash the run
        info = error_info(exc, root)
        if isinstance(exc, FlopguardError) and info.where is None:  # e.g. the factory cannot be imported
            info = replace(info, where=str(spec.location))
        return ModelResult(error=info, output=_tail(output))
    except SystemExit as exc:  # `sys.exit()` in a factory must not end the whole run
        from pytest_flopguard.workers.faults import exited

        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return ModelResult(error=exited(code), output=_tail(output))
    estimated = _estimates(measurement, spec)
    return ModelResult(
        metrics={**measurement.metrics(), **{f"latency_estimate.{t}": e.seconds for t, e in estimated.items()}},
        estimate_basis={target: e.basis for target, e in estimated.items()},
        modules=measurement.modules,
        ops=measurement.ops,
        uncounted_ops=measurement.uncounted_ops,
        execution=measurement.execution,
        notes=measurement.notes,
        data_dependent=measurement.data_dependent,
        output=_tail(output),
    )


def _count(spec: ModelSpec, root: Path) -> Measurement:
    if spec.onnx is not None:  # counted from the graph: `onnx:` is relative to the budget's folder
        from pytest_flopguard.measure.onnx_engine.counter import measure_spec

        return measure_spec(spec, root)
    from pytest_flopguard.measure.torch_engine.execute import count_model

    assert spec.model is not None  # the loader guarantees model or onnx
    factory = load_object(spec.model, "model")
    return count_model(
        lambda: in_dtype(factory(**spec.kwargs), spec.dtype),
        lambda device, model: make_inputs(spec.inputs, device, model, spec.dtype),
        spec.build_on,
        upper_bound=spec.data_dependent == "upper_bound",
    )


def _estimates(measurement: Measurement, spec: ModelSpec) -> dict[str, Estimate]:
    """The roofline `latency_estimate` of each target its limits name (`latency/roofline.py`)."""
    if not spec.profiles:
        return {}
    from pytest_flopguard.measure.latency.roofline import estimates

    return dict(estimates(measurement, spec.profiles))


# --- inputs -------------------------------------------------------------------


# --- plumbing -----------------------------------------------------------------


@contextlib.contextmanager
def _captured(buffer: io.StringIO) -> Iterator[None]:
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        yield


def _tail(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    return text if len(text) <= MAX_OUTPUT else "...\n" + text[-MAX_OUTPUT:]


