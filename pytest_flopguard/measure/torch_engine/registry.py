"""The formula registry: `@formula(op)` registers pure shape arithmetic for an aten op.

The conventions and the list of what is counted are in `formulas.py`, which
also holds the public API (`evaluate`, `classify`); the formulas themselves
are in `formulas_matmul.py` and `formulas_other.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar

import torch
from torch._ops import OpOverload, OpOverloadPacket

aten = torch.ops.aten

Shape = tuple[int, ...]
Formula = Callable[..., int]
Kind = Literal["macs", "flops_other"]
Category = Literal["counted", "free", "uncounted"]
_F = TypeVar("_F", bound=Formula)

REGISTRY: dict[Kind, dict[OpOverloadPacket | OpOverload, Formula]] = {
    "macs": {},
    "flops_other": {},
}


class NotFromShapes(Exception):
    """Raised by a formula when this call's count is not fixed by its shapes
    (variable-length attention: the sequence lengths are tensor values). The
    counter reports such a call as uncounted, by name, instead of guessing."""


def formula(*targets: OpOverloadPacket | OpOverload, kind: Kind = "macs") -> Callable[[_F], _F]:
    """Register ``fn`` as the ``kind`` formula of each target; refuses duplicates.

    Example (``mylib::gemv`` being some library's custom op)::

        @formula(torch.ops.mylib.gemv)
        def gemv(a: Shape, v: Shape, *_: Any, out_shape: Shape, **__: Any) -> int:
            return a[0] * a[1]
    """
    table = REGISTRY[kind]

    def register(fn: _F) -> _F:
        for target in targets:
            if not isinstance(target, (OpOverloadPacket, OpOverload)):
                raise TypeError(f"formula target must be an aten op, got {target!r}")
            if target in table:
                raise ValueError(f"duplicate {kind} formula for {target}")
            table[target] = fn
        return fn

    return register


def lookup(kind: Kind, op: Any) -> Formula | None:
    table = REGISTRY[kind]
    found = table.get(op)
    if found is None and isinstance(op, OpOverload):
        found = table.get(op.overloadpacket)
    return found


def ops(names: Iterable[str], in_place: bool = False) -> list[OpOverloadPacket]:
    """The aten packets of ``names`` that exist in this torch (and ``name_``)."""
    wanted = [n for name in names for n in ((name, name + "_") if in_place else (name,))]
    return [getattr(aten, n) for n in wanted if hasattr(aten, n)]


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


def first_shape(out_shape: Any) -> Shape:
    """The first output's shape (``out_shape`` may be a tuple of shapes)."""
    if out_shape and isinstance(out_shape[0], (tuple, list)):
        return tuple(out_shape[0])
    return tuple(out_shape)
