"""A budget entry's factory and inputs: import `pkg.mod:name`, build the synthetic inputs.

Shared by every engine (torch, ONNX, latency) and by the worker that measures
an entry (`workers/entry.py`).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pytest_flopguard.budget.schema import InputsSpec, TensorSpec
from pytest_flopguard.errors import FlopguardError


def in_dtype(model: Any, dtype: str | None) -> Any:
    """`dtype:` of the budget entry: the model's floating weights and buffers converted to it.

    On the meta device this allocates nothing, so hybrid execution counts a
    bfloat16 model as cheaply as a float32 one.
    """
    if dtype is None:
        return model
    import torch

    return model.to(getattr(torch, dtype))


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


@contextlib.contextmanager
def importable(root: Path) -> Iterator[None]:
    """Factories import with the budget file's folder first on sys.path."""
    entry = str(root)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)
