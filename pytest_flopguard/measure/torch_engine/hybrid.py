"""Hybrid execution: weights on meta, inputs real, so counting needs no weights.

A model built under `torch.device("meta")` allocates nothing, but its code
often needs real values that derive only from its *inputs*: Hugging Face
mask helpers call `.item()`, position ids come from `torch.arange(n,
device=w.device)`, MoE routing calls `nonzero()`. Plain meta execution fails
on all of these. Two modes make them work (see docs/hybrid-execution.md):

1. `_HybridDispatch` (dispatch level, below the counter): an op with no meta
   argument runs for real on the CPU — it only touches input-derived data,
   which is small; an op with any meta argument runs on meta, its real
   arguments converted to meta first. `.item()` of a meta value raises
   `WeightValueNeeded`, naming the model's source line.
2. `_FactoriesOnCpu` (Python level): a tensor factory or `.to()` call that
   targets meta while none of its arguments is meta is redirected to the
   CPU, so `torch.arange(n, device=w.device)` and `ids.to(w.device)` stay
   real. Factories over `MAX_REAL_FACTORY` elements stay on meta.

An in-place op that writes meta data into a real tensor cannot update it:
its storage is remembered as *tainted* and treated as meta from then on.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from pytest_flopguard.measure.torch_engine.dynamo_shims import no_dynamo_wrapper

MAX_REAL_FACTORY = 2**24  # elements; bigger input-derived factories stay on meta
META = torch.device("meta")
CPU = torch.device("cpu")

_FACTORIES = frozenset(
    {
        torch.arange,
        torch.zeros,
        torch.ones,
        torch.full,
        torch.empty,
        torch.tensor,
        torch.as_tensor,
        torch.linspace,
        torch.eye,
        torch.rand,
        torch.randn,
        torch.randint,
        torch.randperm,
        torch.tril_indices,
        torch.triu_indices,
    }
)
_VALUE_OPS = frozenset({torch.ops.aten._local_scalar_dense.default})
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class WeightValueNeeded(RuntimeError):
    """The model needs a value computed from its weights: counting needs real weights."""


@contextlib.contextmanager
def hybrid_execution() -> Iterator[None]:
    """Enter both modes; the counter's modes must be entered after (on top)."""
    with _HybridDispatch(), _FactoriesOnCpu():
        yield


class _HybridDispatch(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch leaves it untyped
    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.tainted: set[StorageWeakRef] = set()

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return no_dynamo_wrapper()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if not any(self._is_meta(t) for t in tensors):
            return func(*args, **kwargs)
        if func in _VALUE_OPS:
            raise WeightValueNeeded(f"the model reads a value computed from its weights{_user_line()}")
        written = _written_real(func, args, kwargs)
        args, kwargs = tree_map(self._to_meta, (args, kwargs))
        out = func(*args, **kwargs)
        for t in written:  # a real tensor cannot take meta data: it is meta from now on
            self.tainted.add(StorageWeakRef(t.untyped_storage()))  # type: ignore[no-untyped-call]
        if len(written) == 1 and isinstance(out, torch.Tensor):
            return written[0]  # in place: the caller gets its own tensor back, as in a real run
        return out

    def _is_meta(self, t: torch.Tensor) -> bool:
        if t.is_meta:
            return True
        return bool(self.tainted) and StorageWeakRef(t.untyped_storage()) in self.tainted  # type: ignore[no-untyped-call]

    def _to_meta(self, x: Any) -> Any:
        if not isinstance(x, torch.Tensor) or x.is_meta:
            return x
        # Same shape, strides and dtype; the values do not matter on meta.
        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=META)


def _written_real(func: Any, args: Any, kwargs: dict[str, Any]) -> list[torch.Tensor]:
    """Real tensors that `func` writes to (in place or out=)."""
    schema = getattr(func, "_schema", None)
    if schema is None:
        return []
    written = []
    for i, arg in enumerate(schema.arguments):
        if arg.alias_info is None or not arg.alias_info.is_write:
            continue
        value = args[i] if i < len(args) and not arg.kwarg_only else kwargs.get(arg.name)
        if isinstance(value, torch.Tensor) and not value.is_meta:
            written.append(value)
    return written


class _FactoriesOnCpu(TorchFunctionMode):
    """Redirect meta-targeted factories and `.to()` calls with no meta input to the CPU."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _FACTORIES and _device_of(kwargs.get("device")) == META and _small(func, args, kwargs):
            kwargs = {**kwargs, "device": CPU}
        elif func is torch.Tensor.to and not _any_meta(args[:1]):
            args, kwargs = _to_without_meta(args, kwargs)
        return func(*args, **kwargs)


def _device_of(value: Any) -> torch.device | None:
    if isinstance(value, (str, torch.device)):
        return torch.device(value)
    return None


def _any_meta(values: Any) -> bool:
    return any(isinstance(t, torch.Tensor) and t.is_meta for t in tree_flatten(values)[0])


def _small(func: Any, args: Any, kwargs: dict[str, Any]) -> bool:
    """Factories from shapes: only up to MAX_REAL_FACTORY elements become real."""
    if func in (torch.tensor, torch.as_tensor, torch.arange, torch.linspace, torch.tril_indices, torch.triu_indices):
        return True  # sized by data or a range: input-derived and small in practice
    sizes = [a for a in args if isinstance(a, int)] or [
        n for a in args[:1] if isinstance(a, (tuple, list, torch.Size)) for n in a
    ]
    size = kwargs.get("size")
    if isinstance(size, (tuple, list, torch.Size)):
        sizes = list(size)
    count = 1
    for n in sizes:
        count *= int(n)
    return count <= MAX_REAL_FACTORY


def _to_without_meta(args: Any, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """`real.to(meta_device[, dtype])` keeps the tensor real (dtype still applies)."""
    if _device_of(kwargs.get("device")) == META:
        kwargs = {k: v for k, v in kwargs.items() if k != "device"}
    rest = list(args[1:])
    if rest and (_device_of(rest[0]) == META or (isinstance(rest[0], torch.Tensor) and rest[0].is_meta)):
        other = rest.pop(0)
        if isinstance(other, torch.Tensor):  # x.to(other): other's dtype, our device
            kwargs = {**kwargs, "dtype": other.dtype}
    return (args[0], *rest), kwargs


def _user_line() -> str:
    """` at models/llama.py:123` — the innermost frame outside torch and flopguard."""
    for frame in reversed(traceback.extract_stack()):
        name = frame.filename
        if "torch" not in Path(name).parts and not name.startswith(_PACKAGE_ROOT):
            return f" at {name}:{frame.lineno} ({(frame.line or '').strip()})"
    return ""
