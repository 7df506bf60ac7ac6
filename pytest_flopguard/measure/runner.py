"""Measure one budget entry: import its factory, make its inputs, count.

Anything that goes wrong in the user's code (import, factory, forward) is
recorded on that model as an `ErrorInfo`, with the user's own source line;
the caller goes on with the other models.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flopguard.budget.schema import InputsSpec, ModelSpec, TensorSpec
from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.measure.types import Measurement
from pytest_flopguard.results import ErrorInfo, ModelResult

if TYPE_CHECKING:
    from pytest_flopguard.measure.latency.roofline import Estimate

MAX_OUTPUT = 4000  # characters of a model's printed output kept in results


def measure_model(spec: ModelSpec, root: Path, capture: bool = True) -> ModelResult:
    """Measure `spec`, never raising for problems in the model or its entry.

    `capture=False` leaves prints alone: a pool worker captures them at the
    file-descriptor level itself (`workers/pool_worker.py`).
    """
    entry: dict[str, Any] = {"limits": spec.limits, "tolerance": spec.tolerance, "floor": spec.floor}
    entry |= {"limit_lines": spec.limit_lines, "variant": spec.variant, "accuracy": spec.accuracy}
    if spec.errors:
        first = spec.errors[0]
        info = ErrorInfo(
            "BudgetError", "; ".join(e.message for e in spec.errors), first.code, first.fix, str(first.location)
        )
        return ModelResult(error=info, **entry)
    output = io.StringIO()
    try:
        with _captured(output) if capture else contextlib.nullcontext(), _importable(root):
            measurement = _count(spec, root)
    except Exception as exc:  # the user's code: record, don't crash the run
        info = _error_info(exc, root)
        if isinstance(exc, FlopguardError) and info.where is None:  # e.g. the factory cannot be imported
            info = replace(info, where=str(spec.location))
        return ModelResult(error=info, output=_tail(output), **entry)
    except SystemExit as exc:  # `sys.exit()` in a factory must not end the whole run
        from pytest_flopguard.workers.faults import exited

        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return ModelResult(error=exited(code), output=_tail(output), **entry)
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
        **entry,
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
    )


def in_dtype(model: Any, dtype: str | None) -> Any:
    """`dtype:` of the budget entry: the model's floating weights and buffers converted to it.

    On the meta device this allocates nothing, so hybrid execution counts a
    bfloat16 model as cheaply as a float32 one.
    """
    if dtype is None:
        return model
    import torch

    return model.to(getattr(torch, dtype))


def _estimates(measurement: Measurement, spec: ModelSpec) -> dict[str, Estimate]:
    """The roofline `latency_estimate` of each target its limits name (`latency/roofline.py`)."""
    if not spec.profiles:
        return {}
    from pytest_flopguard.measure.latency.roofline import estimates

    return dict(estimates(measurement, spec.profiles))


def load_object(target: str, what: str) -> Callable[..., Any]:
    """Import `package.module:name`, with errors that say what to fix."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise FlopguardError(
                "FG301",
                f"cannot import {module_name!r} for {what} {target!r}: no module named {exc.name!r}",
                fix="paths are relative to the budget file's folder; check the module path, or install the package",
            ) from None
        raise
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise FlopguardError(
            "FG302",
            f"{module_name!r} has no attribute {attr!r}",
            fix=f"define {attr}() in {module.__file__}, or fix the name in the budget",
        ) from None
    if not callable(obj):
        raise FlopguardError(
            "FG302", f"{target!r} is not callable", fix="point at a function or class that builds the model"
        )
    return obj  # type: ignore[no-any-return]


# --- inputs -------------------------------------------------------------------


def make_inputs(
    spec: InputsSpec, device: Any, model: Any = None, dtype: str | None = None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Synthetic inputs for one forward pass: `(args, kwargs)` on `device`.

    With `dtype`, the floating tensors a `pkg.mod:make_inputs` function returns
    are converted to it (shapes given in the budget already carry it).
    """
    if spec.factory is not None:
        return _from_factory(load_object(spec.factory, "inputs")(), device, dtype)
    high = _vocab_size(model)
    args = tuple(_tensor(t, device, high) for t in spec.args)
    kwargs = {name: _tensor(t, device, high) for name, t in spec.kwargs}
    return args, kwargs


def _tensor(spec: TensorSpec, device: Any, high: int) -> Any:
    import torch

    dtype = getattr(torch, spec.dtype)
    if dtype == torch.bool:
        return torch.ones(spec.shape, dtype=dtype, device=device)
    if dtype.is_floating_point:
        return torch.randn(spec.shape, dtype=dtype, device=device)
    low, top = spec.value_range or (0, high)
    return torch.randint(low, top, spec.shape, dtype=dtype, device=device)


def _vocab_size(model: Any) -> int:
    """Integer inputs default to ids valid for every embedding of the model."""
    import torch

    sizes = (
        [m.num_embeddings for m in model.modules() if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))]
        if model is not None
        else []
    )
    return max(1, min(sizes)) if sizes else 2


def _from_factory(value: Any, device: Any, dtype: str | None = None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    import torch

    def move(x: Any) -> Any:
        if not isinstance(x, torch.Tensor):
            return x
        return x.to(device, getattr(torch, dtype)) if dtype and x.is_floating_point() else x.to(device)

    if isinstance(value, dict):
        return (), {k: move(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return tuple(move(v) for v in value), {}
    return (move(value),), {}


# --- plumbing -----------------------------------------------------------------


@contextlib.contextmanager
def _importable(root: Path) -> Iterator[None]:
    """Factories import with the budget file's folder first on sys.path."""
    entry = str(root)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


@contextlib.contextmanager
def _captured(buffer: io.StringIO) -> Iterator[None]:
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        yield


def _tail(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    return text if len(text) <= MAX_OUTPUT else "...\n" + text[-MAX_OUTPUT:]


def _error_info(exc: BaseException, root: Path) -> ErrorInfo:
    if isinstance(exc, FlopguardError):
        return ErrorInfo(
            type(exc).__name__, exc.message, exc.code, exc.fix, str(exc.location) if exc.location else None
        )
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ErrorInfo(type(exc).__name__, message, where=_user_frame(exc, root), traceback=user_traceback(exc, root))


def user_traceback(exc: BaseException, root: Path, frames: int = 3) -> str | None:
    """The last `frames` frames of the traceback that are the user's code (inside the
    budget's folder, not site-packages), formatted as Python does; None if none is.

    Our own frames and torch's are left out: the user can act only on theirs.
    """
    own = [f for f in traceback.extract_tb(exc.__traceback__) if _inside(f.filename, root)]
    if not own:
        return None
    base = root.resolve()
    lines = []
    for frame in own[-frames:]:
        where = Path(frame.filename).resolve().relative_to(base)
        lines.append(f'File "{where}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"  {frame.line.strip()}")
    return "\n".join(lines)


def _user_frame(exc: BaseException, root: Path) -> str | None:
    """The innermost frame in the user's repository: where *their* code failed."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _inside(f.filename, root)]
    if not frames:
        return None
    frame = frames[-1]
    return f"{Path(frame.filename).resolve().relative_to(root.resolve())}:{frame.lineno}"


def _inside(filename: str, root: Path) -> bool:
    if not Path(filename).is_file():  # `<string>`, `<frozen ...>`: no file of theirs
        return False
    try:
        Path(filename).resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return "site-packages" not in filename
