"""Keep torch's compiler out of a count: it never runs, but importing it is slow.

Counting runs torch's Python meta kernels and decompositions, and two kinds
of shim in torch import `torch._dynamo` (1-1.5 s here, over ten times the
time to count a ResNet-50 on meta) on first use, only to switch compilation
off around code that is not being compiled:

* a `TorchDispatchMode` is wrapped in a dynamo-disable shim unless its
  `_should_skip_dynamo` says no (documented on `TorchDispatchMode`):
  `no_dynamo_wrapper` is our modes' answer;
* `torch._disable_dynamo` wraps hundreds of functions in `torch._refs` and
  `torch._decomp` (every type-promoting elementwise reference, `normal_`,
  batch norm...). Its shim keeps the disabled function in an attribute of
  the wrapped one, `__dynamo_disable`, and imports dynamo only to fill it.
  `dynamo_shims_bypassed` fills it with the function itself for the length
  of a count, and empties it again afterwards, so a `torch.compile` later in
  the same process finds torch as it was.

Counting never runs under `torch.compile`, so skipping the shims changes no
count (tests/measure/torch_engine/test_dynamo_shims.py compares). Checked on torch 2.13: should
torch change the shim, `_shim_code` finds nothing and the import happens as
before, slower, with the same counts.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import types
from collections.abc import Iterator

import torch

_ATTR = "__dynamo_disable"


def no_dynamo_wrapper() -> bool:
    """`_should_skip_dynamo` of our dispatch modes: no dynamo-disable wrapper."""
    return False


@contextlib.contextmanager
def dynamo_shims_bypassed() -> Iterator[None]:
    """While inside, `torch._disable_dynamo` shims call their function directly."""
    if "torch._dynamo" in sys.modules:  # already imported: nothing to save
        yield
        return
    filled: list[types.FunctionType] = []
    try:
        for fn in _shimmed_functions():
            if _ATTR not in vars(fn):
                setattr(fn, _ATTR, fn)
                filled.append(fn)
        yield
    finally:
        for fn in filled:
            if vars(fn).get(_ATTR) is fn:
                delattr(fn, _ATTR)


def _shim_code() -> types.CodeType | None:
    """The code object every `torch._disable_dynamo(fn)` shim shares."""
    disable = getattr(torch, "_disable_dynamo", None)
    shim = disable(lambda: None) if callable(disable) else None
    code = getattr(shim, "__code__", None)
    return code if isinstance(code, types.CodeType) and "fn" in code.co_freevars else None


_SHIM_CODE = _shim_code()
_found: list[types.FunctionType] = []
_torch_modules_seen = 0  # torch makes shims when its modules are imported: look again only after that


def _shimmed_functions() -> list[types.FunctionType]:
    """The functions torch wrapped in a shim, found again only when torch imported more of itself (~30 ms)."""
    global _torch_modules_seen
    loaded = sum(1 for name in list(sys.modules) if name.startswith("torch."))
    if _SHIM_CODE is None or loaded == _torch_modules_seen:
        return _found
    _torch_modules_seen = loaded
    where = _SHIM_CODE.co_freevars.index("fn")
    shims = [obj for obj in gc.get_objects() if type(obj) is types.FunctionType and obj.__code__ is _SHIM_CODE]
    wrapped = [shim.__closure__[where].cell_contents for shim in shims if shim.__closure__]
    _found[:] = [fn for fn in wrapped if isinstance(fn, types.FunctionType)]
    return _found
