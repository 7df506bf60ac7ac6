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
   `WeightValueNeeded`, naming the model's source line. A kernel with no CPU
   implementation (flash attention called directly) runs on meta too.
2. `FactoriesOnCpu` (Python level): a tensor factory or `.to()` call that
   targets meta while none of its arguments is meta is redirected to the
   CPU, so `torch.arange(n, device=w.device)` and `ids.to(w.device)` stay
   real. Factories over `MAX_REAL_FACTORY` elements stay on meta.

An in-place op that writes meta data into a real tensor cannot update it:
its storage is remembered as *tainted* and treated as meta from then on.
"""

from __future__ import annotations

import contextlib
import functools
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from pytest_flopguard.measure.torch_engine.dynamo_shims import no_dynamo_wrapper
from pytest_flopguard.measure.torch_engine.meta_kernels import META_SHAPES, cuda_only_on_cpu

MAX_REAL_FACTORY = 2**24  # elements; bigger input-derived factories stay on meta
META = torch.device("meta")
CPU = torch.device("cpu")

FACTORIES = frozenset(
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
aten = torch.ops.aten
# Ops that read values: `.item()`, and those whose output *shape* depends on
# the values (`nonzero`, boolean masks, `unique`, NMS). On a weight-derived
# (meta) argument the count itself depends on the weights: the model is
# data-dependent. Keyed by the op's name, so that an extension's op (torchvision's
# NMS) needs no import here.
VALUE_OPS = frozenset(
    {
        "aten::_local_scalar_dense",
        "aten::nonzero",
        "aten::nonzero_static",
        "aten::masked_select",
        "aten::_unique",
        "aten::_unique2",
        "aten::unique_dim",
        "aten::unique_consecutive",
        "aten::bincount",
        "aten::repeat_interleave.Tensor",
        "torchvision::nms",
    }
)
# Indexing with a boolean mask is a `nonzero` inside the kernel: the output's
# shape depends on the mask's values.
_INDEXING = frozenset({aten.index.Tensor, aten.index_put.default, aten.index_put_.default})
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class WeightValueNeeded(RuntimeError):
    """The model needs a value computed from its weights: counting needs real weights.

    `op` is the aten op that read it, `where` the model's source line: what made
    the count data-dependent.
    """

    def __init__(self, op: str, where: str) -> None:
        super().__init__(f"the model reads a value computed from its weights ({op}){where and ' at ' + where}")
        self.op, self.where = op, where


class HybridSession:
    """One model's hybrid run: built and counted under one dispatch mode, so a
    real tensor tainted with meta data while the model is built is still meta
    when it is counted.

    `assumptions` (`upper_bound.ASSUMPTIONS`, the budget's `data_dependent:
    upper_bound`) answers a value op on weight-derived data instead of raising
    `WeightValueNeeded`; `assumed` then holds, per assumption, the first op and
    line that relied on it.
    """

    def __init__(self, assumptions: Mapping[str, tuple[str, Any]] | None = None) -> None:
        self._dispatch = _HybridDispatch(assumptions or {})

    @property
    def assumed(self) -> dict[str, str]:
        return self._dispatch.assumed

    def dispatch(self) -> TorchDispatchMode:
        return self._dispatch

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Enter both modes; the counter's modes must be entered after (on top)."""
        with self._dispatch, FactoriesOnCpu():
            yield


class _HybridDispatch(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch leaves it untyped
    def __init__(self, assumptions: Mapping[str, tuple[str, Any]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.tainted: set[StorageWeakRef] = set()
        self.assumptions = assumptions
        self.assumed: dict[str, str] = {}

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return no_dynamo_wrapper()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if not any(self._is_meta(t) for t in tensors) and not cuda_only_on_cpu(func, tensors):
            return func(*args, **kwargs)
        if (name := _name(func)) in VALUE_OPS:
            return self._assume(func, name)(*args, **kwargs)
        if func in _INDEXING:
            args = (args[0], self._mask_indices(func, args[1]), *args[2:])
        written = _written_real(func, args, kwargs)
        args, kwargs = tree_map(self._to_meta, (args, kwargs))
        out = META_SHAPES.get(func, func)(*args, **kwargs)
        for t in written:  # a real tensor cannot take meta data: it is meta from now on
            self.tainted.add(StorageWeakRef(t.untyped_storage()))  # type: ignore[no-untyped-call]
        if len(written) == 1 and isinstance(out, torch.Tensor):
            return written[0]  # in place: the caller gets its own tensor back, as in a real run
        return out

    def _is_meta(self, t: torch.Tensor) -> bool:
        if t.is_meta:
            return True
        return bool(self.tainted) and StorageWeakRef(t.untyped_storage()) in self.tainted  # type: ignore[no-untyped-call]

    def _mask_indices(self, func: Any, indices: Any) -> list[Any]:
        """A real boolean mask becomes its indices (meta kernels cannot take a mask);
        a weight-derived one is data-dependent."""
        out: list[Any] = []
        for index in indices:
            if not isinstance(index, torch.Tensor) or index.dtype != torch.bool:
                out.append(index)
            elif self._is_meta(index):
                out.extend(self._assume(func, "aten::nonzero")(index).unbind(1))
            else:
                out.extend(index.nonzero().unbind(1))
        return out

    def _assume(self, func: Any, name: str) -> Any:
        """The assumption's stand-in for `name`, or `WeightValueNeeded` without one."""
        if name not in self.assumptions:
            raise WeightValueNeeded(str(func.overloadpacket), _user_line())
        what, stand_in = self.assumptions[name]
        self.assumed.setdefault(what, f"{func.overloadpacket} at {_user_line()}")
        return stand_in

    def _to_meta(self, x: Any) -> Any:
        if not isinstance(x, torch.Tensor) or x.is_meta:
            return x
        # Same shape, strides and dtype; the values do not matter on meta.
        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=META)


@functools.cache  # asked on every op with a meta argument: the counting's hot path
def _name(func: Any) -> str:
    """`aten::nonzero`, `aten::repeat_interleave.Tensor`: the op as VALUE_OPS names it."""
    name = func.name() if hasattr(func, "name") else str(func)
    return name.removesuffix(".default")


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


class FactoriesOnCpu(TorchFunctionMode):
    """Redirect meta-targeted factories and `.to()` calls with no meta input to the CPU."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in FACTORIES and device_of(kwargs.get("device")) == META and small_factory(func, args, kwargs):
            kwargs = {**kwargs, "device": CPU}
        elif func is torch.Tensor.to and not _any_meta(args[:1]):
            args, kwargs = _to_without_meta(args, kwargs)
        return func(*args, **kwargs)


def device_of(value: Any) -> torch.device | None:
    if isinstance(value, (str, torch.device)):
        return torch.device(value)
    return None


def _any_meta(values: Any) -> bool:
    return any(isinstance(t, torch.Tensor) and t.is_meta for t in tree_flatten(values)[0])


def small_factory(func: Any, args: Any, kwargs: dict[str, Any]) -> bool:
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
    if device_of(kwargs.get("device")) == META:
        kwargs = {k: v for k, v in kwargs.items() if k != "device"}
    rest = list(args[1:])
    if rest and (device_of(rest[0]) == META or (isinstance(rest[0], torch.Tensor) and rest[0].is_meta)):
        other = rest.pop(0)
        if isinstance(other, torch.Tensor):  # x.to(other): other's dtype, our device
            kwargs = {**kwargs, "dtype": other.dtype}
    return (args[0], *rest), kwargs


def _user_line() -> str:
    return user_line(traceback.extract_stack())


def user_line(frames: traceback.StackSummary) -> str:
    """`models/llama.py:123 (line)` — the innermost frame outside torch and flopguard."""
    for frame in reversed(frames):
        name = frame.filename
        if "torch" not in Path(name).parts and not name.startswith(_PACKAGE_ROOT):
            return f"{_short(name)}:{frame.lineno} ({(frame.line or '').strip()})"
    return ""


def _short(filename: str) -> str:
    """An installed package's file from its package (`torchvision/ops/boxes.py`), the
    same on every machine; the user's own files relative to the working folder."""
    parts = Path(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[parts.index(marker) + 1 :])
    with contextlib.suppress(ValueError):
        return str(Path(filename).relative_to(Path.cwd()))
    return filename
