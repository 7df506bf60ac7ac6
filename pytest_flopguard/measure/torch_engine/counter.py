"""Count one forward pass of a torch model: MACs, FLOPs, bytes, peak memory.

Two modes run together:

* a ``TorchDispatchMode`` sees every aten op that runs and adds up its
  formulas (``formulas.py``), the bytes it reads and writes, and the live
  tensor bytes after it;
* a ``TorchFunctionMode`` catches scaled-dot-product attention and the RNN
  family (``torch.lstm``/``gru``/``rnn_tanh``/``rnn_relu``) before they pick a
  kernel, counts each as ONE op and hides its internals from the dispatch
  counter (``fused.py``). On meta SDPA decomposes into bmm + softmax while on CPU it is one
  flash kernel (and LSTM is ``mkldnn_rnn_layer`` on CPU, addmm steps on meta):
  without this the counts would depend on the device.

Example::

    m = count_forward(torch.nn.Linear(512, 1000), (torch.randn(1, 512),), {})
    m.macs  # 512000
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pytest_flopguard.measure.torch_engine import formulas
from pytest_flopguard.measure.torch_engine.dynamo_shims import no_dynamo_wrapper
from pytest_flopguard.measure.torch_engine.fused import SDPA, FusedOps, bind, laid_out_like
from pytest_flopguard.measure.torch_engine.memory import PeakTracker
from pytest_flopguard.measure.torch_engine.nested import refuse_nested
from pytest_flopguard.measure.torch_engine.run_context import (
    eval_mode,
    execution,
    frozen,
    mha_fastpath_off,
    model_tensors,
)
from pytest_flopguard.measure.torch_engine.traffic import bytes_accessed, costed_outputs, tensors
from pytest_flopguard.measure.types import Measurement, ModuleStats, OpCost, Totals

aten = torch.ops.aten



def count_forward(
    model: torch.nn.Module,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    below: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
) -> Measurement:
    """Count one forward pass of ``model(*args, **kwargs)`` in eval mode, without gradients.

    Works with the model and inputs on the meta device (nothing is computed)
    or on a real device. The counts do not depend on the caller's autograd
    mode (grad, no_grad, inference_mode) or on the device.

    ``below`` enters modes under the counter (it sees every op first): the
    hybrid execution of ``hybrid.py`` uses it to run ops on meta or CPU
    without the counter seeing its conversions.

    >>> count_forward(torch.nn.Linear(512, 1000), (torch.randn(1, 512),)).macs
    512000
    """
    refuse_nested("the model's inputs", args, kwargs or {})
    tally = _Tally(model)
    # no_grad but never inference mode: there the dispatcher skips the Autograd
    # key and composite ops (aten.linear, aten.matmul) arrive undecomposed.
    with (
        eval_mode(model),
        frozen(model),
        torch.inference_mode(False),
        torch.no_grad(),
        mha_fastpath_off(),
        _module_hooks(model, tally),
    ):
        tally.peak.pin([*model_tensors(model), *tensors((args, kwargs))])
        with below(), _OpCounter(tally), FusedOps(tally):
            out = model(*args, **(kwargs or {}))
        tally.peak.finish(tensors(out))
    return tally.measurement(model, execution(model, (args, kwargs)))


# --- accumulation ------------------------------------------------------------------


class _Tally:
    """What one forward pass adds up: per op, per module, uncounted, peak."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.ops: dict[str, Totals] = {}
        self.modules: dict[str, Totals] = {path: Totals() for path, _ in model.named_modules()}
        self.uncounted: Counter[str] = Counter()
        self.stack: list[str] = []  # module paths, outermost first
        self.suppressed = 0  # > 0 inside an op counted at function level
        self.peak = PeakTracker()
        self.costs: list[OpCost] = []  # per call, for the roofline estimate

    def record(self, op: Any, args: Any, kwargs: dict[str, Any], out: Any) -> None:
        name = str(op)
        try:
            macs = formulas.evaluate("macs", op, args, kwargs, out)
            other = formulas.evaluate("flops_other", op, args, kwargs, out)
            uncounted = _category(op) == "uncounted"
        except formulas.NotFromShapes:  # this call's shapes do not fix its count
            macs, other, uncounted = 0, 0, True
        out = costed_outputs(op, out)
        nbytes = bytes_accessed(op, args, kwargs, out)
        if uncounted:
            self.uncounted[name] += 1
        self.ops.setdefault(name, Totals()).add(macs, other, nbytes, calls=1)
        for path in set(self.stack):  # a module twice on the stack counts once
            self.modules[path].add(macs, other, nbytes, calls=0)
        inputs, outputs = tensors((args, kwargs)), tensors(out)
        self.costs.append(OpCost(2 * macs + other, nbytes, _precision(inputs, outputs)))
        self.peak.after_op(inputs, outputs)

    def run_fused(self, op: Any, func: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
        """Run ``func`` with dispatch counting off and count it as the one op ``op``."""
        if self.suppressed:
            return func(*args, **kwargs)
        bound_args, bound_kwargs = bind(op, args, kwargs)
        self.suppressed += 1
        try:
            out = func(*args, **kwargs)
            if op is SDPA:
                out = laid_out_like(out, bound_args[0])
        finally:
            self.suppressed -= 1
        self.record(op, bound_args, bound_kwargs, out)
        return out

    def measurement(self, model: torch.nn.Module, execution: str) -> Measurement:
        macs = sum(a.macs for a in self.ops.values())
        return Measurement(
            macs=macs,
            flops=2 * macs,
            flops_other=sum(a.flops_other for a in self.ops.values()),
            params=_param_count(model),
            memory_access=sum(a.memory_access for a in self.ops.values()),
            peak_memory=self.peak.peak,
            modules=tuple(self._module_stats(path, m) for path, m in model.named_modules()),
            ops={name: a.op_stats() for name, a in sorted(self.ops.items())},
            uncounted_ops=dict(sorted(self.uncounted.items())),
            execution=execution,
            op_costs=tuple(self.costs),
        )

    def _module_stats(self, path: str, module: torch.nn.Module) -> ModuleStats:
        a = self.modules[path]
        return ModuleStats(
            path,
            type(module).__name__,
            a.calls,
            _param_count(module),
            a.macs,
            2 * a.macs,
            a.flops_other,
            a.memory_access,
        )


_INT8 = frozenset({torch.int8, torch.uint8, torch.qint8, torch.quint8})
_HALF = frozenset({torch.float16, torch.bfloat16})


def _precision(inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> str:
    """Which peak of a device profile bounds this call: int8 if any operand is
    8-bit, fp16 if any is half (float16/bfloat16), else fp32."""
    dtypes = {t.dtype for t in (*inputs, *outputs)}
    if dtypes & _INT8:
        return "int8"
    return "fp16" if dtypes & _HALF else "fp32"


def _param_count(module: torch.nn.Module) -> int:
    # .parameters() yields each Parameter object once: tied weights count once.
    return sum(p.numel() for p in module.parameters())


# --- the two modes -------------------------------------------------------------------


class _OpCounter(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch leaves it untyped
    """Sees every aten op after decomposition; records it unless suppressed."""

    def __init__(self, tally: _Tally) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.tally = tally

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return no_dynamo_wrapper()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        refuse_nested(func, args, kwargs)
        if _category(func) == "uncounted" and _decomposes(func):
            # A composite op (aten.linear, aten.conv2d) reaches a dispatch mode
            # undecomposed when every tensor is an inference tensor: count its
            # parts, as FlopCounterMode does.
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        if not self.tally.suppressed:
            self.tally.record(func, args, kwargs, out)
        return out


def _decomposes(func: Any) -> bool:
    has_kernel = getattr(func, "has_kernel_for_dispatch_key", None)
    return bool(has_kernel and has_kernel(torch._C.DispatchKey.CompositeImplicitAutograd))


# --- classification ---------------------------------------------------------------

_CATEGORY: dict[Any, str] = {}


def _category(op: Any) -> str:
    if op not in _CATEGORY:
        _CATEGORY[op] = formulas.classify(op)
    return _CATEGORY[op]


# --- module paths ------------------------------------------------------------------


@contextlib.contextmanager
def _module_hooks(model: torch.nn.Module, tally: _Tally) -> Iterator[None]:
    handles = []
    for path, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(_enter_hook(tally, path)))
        handles.append(module.register_forward_hook(_leave_hook(tally, path), always_call=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _enter_hook(tally: _Tally, path: str) -> Callable[..., None]:
    def enter(module: torch.nn.Module, args: Any) -> None:
        tally.modules[path].calls += 1
        tally.stack.append(path)

    return enter


def _leave_hook(tally: _Tally, path: str) -> Callable[..., None]:
    def leave(module: torch.nn.Module, args: Any, output: Any) -> None:
        # Pop the innermost entry of this path (the top one unless a forward raised).
        for i in range(len(tally.stack) - 1, -1, -1):
            if tally.stack[i] == path:
                del tally.stack[i]
                break

    return leave
