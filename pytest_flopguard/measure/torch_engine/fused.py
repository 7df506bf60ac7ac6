"""Function-level ops counted once, before they choose a device kernel.

`F.scaled_dot_product_attention` and the RNN functions dispatch to different
aten kernels on different devices (flash, efficient, math; cuDNN or not), so
the counter would see different ops on CPU, CUDA and meta. `FusedOps` catches
the function call itself and has the tally count it as one aten overload
(`fused_op`), with keyword arguments bound to the schema's positions (`bind`)
and SDPA's output laid out as the fused kernels lay it (`laid_out_like`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from pytest_flopguard.measure.torch_engine.nested import refuse_nested

aten = torch.ops.aten
SDPA = aten.scaled_dot_product_attention.default
SDPA_FUNC = torch._C._nn.scaled_dot_product_attention  # what F.scaled_dot_product_attention is
RNN_FUNCS = ((torch.lstm, "lstm"), (torch.gru, "gru"), (torch.rnn_tanh, "rnn_tanh"), (torch.rnn_relu, "rnn_relu"))


class RunsFused(Protocol):
    def run_fused(self, op: Any, func: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any: ...


class FusedOps(TorchFunctionMode):
    """Counts attention and RNN layers once, before they choose a device kernel."""

    def __init__(self, tally: RunsFused) -> None:
        super().__init__()
        self.tally = tally

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        op = fused_op(func, args)
        if op is not None:
            refuse_nested(op, args, kwargs)
            return self.tally.run_fused(op, func, args, kwargs)
        if func is F.multi_head_attention_forward:
            refuse_nested(func.__name__, args, kwargs)
            with sdpa_counted_in_mha(self.tally):
                return func(*args, **kwargs)
        return func(*args, **kwargs)


def fused_op(func: Any, args: tuple[Any, ...]) -> Any:
    """The aten overload a function-level call stands for, or None."""
    if func is SDPA_FUNC:
        return SDPA
    for rnn_func, name in RNN_FUNCS:
        if func is rnn_func:
            packed = len(args) > 3 and isinstance(args[3], (list, tuple))  # .data: batch_sizes shifts params
            return getattr(getattr(aten, name), "data" if packed else "input")
    return None


@contextlib.contextmanager
def sdpa_counted_in_mha(tally: RunsFused) -> Iterator[None]:
    """Route the SDPA call inside ``F.multi_head_attention_forward`` through the counter.

    That function is Python code behind a ``has_torch_function`` guard: a
    torch-function mode sees the call but not the calls in its body, so the
    SDPA there would reach dispatch level (device-dependent). The body looks
    up the module global ``scaled_dot_product_attention``; we swap it for the
    duration of the call.
    """

    original = F.scaled_dot_product_attention

    def counted(*args: Any, **kwargs: Any) -> Any:
        return tally.run_fused(SDPA, original, args, kwargs)

    setattr(F, "scaled_dot_product_attention", counted)  # noqa: B010 - mypy refuses a plain assignment
    try:
        yield
    finally:
        setattr(F, "scaled_dot_product_attention", original)  # noqa: B010


def laid_out_like(out: Any, query: Any) -> Any:
    """SDPA's output with the query's memory layout, whatever kernel produced it.

    CPU flash attention lays its output out like the query; the math path on
    meta returns it contiguous. A later ``.contiguous()`` then copies on one
    device and not the other, so we fix one layout: the fused kernels'.
    """
    if not isinstance(out, torch.Tensor) or not isinstance(query, torch.Tensor) or out.dim() != query.dim():
        return out
    order = sorted(range(query.dim()), key=lambda d: (-query.stride()[d], d))  # outermost first
    inverse = sorted(range(len(order)), key=order.__getitem__)
    return out.permute(order).contiguous().permute(inverse)


def bind(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Move keyword arguments of a function-level call into the aten schema's positions."""
    if not kwargs:
        return tuple(args), {}
    bound, rest = list(args), dict(kwargs)
    for arg in [a for a in op._schema.arguments if not a.kwarg_only][len(bound) :]:
        if arg.name in rest:
            bound.append(rest.pop(arg.name))
        elif arg.has_default_value():
            bound.append(arg.default_value)
        else:
            break
    return tuple(bound), rest
