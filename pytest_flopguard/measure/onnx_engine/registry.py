"""The ONNX formula registry: `@formula("Conv")` registers a node's `(macs, flops_other)`.

The conventions are tabulated in `formulas.py`, which holds the public
API; the formulas are in `formulas_matmul.py` and `formulas_other.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

Shape = tuple[int, ...]
Counts = tuple[int, int]  # (macs, flops_other)
Formula = Callable[["NodeView"], Counts]
_F = TypeVar("_F", bound=Formula)

MS = "com.microsoft"
REGISTRY: dict[tuple[str, str], Formula] = {}


class UnknownShape(Exception):
    """A shape the formula needs was not inferred."""


class Uncountable(Exception):
    """This use of the op has no convention (an einsum of three operands)."""


@dataclass(frozen=True)
class NodeView:
    """One node as a formula sees it: shapes of its inputs/outputs and its attributes.

    An absent optional input is ``has(i) == False``; a present one whose
    shape shape inference could not determine raises ``UnknownShape``.
    """

    op: str
    inputs: tuple[Shape | None, ...]
    present: tuple[bool, ...]
    outputs: tuple[Shape | None, ...]
    attrs: Mapping[str, Any]

    def has(self, i: int) -> bool:
        return i < len(self.present) and self.present[i]

    def inp(self, i: int) -> Shape:
        return _known(self.inputs[i] if self.has(i) else None)

    def out(self, i: int = 0) -> Shape:
        return _known(self.outputs[i] if i < len(self.outputs) else None)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)


def _known(shape: Shape | None) -> Shape:
    if shape is None:
        raise UnknownShape
    return shape


def formula(*ops: str, domain: str = "") -> Callable[[_F], _F]:
    """Register ``fn`` as the formula of each op type of ``domain``; refuses duplicates.

    Example (a custom op of some library)::

        @formula("GemvFast", domain="mylib")
        def gemv(n: NodeView) -> Counts:
            rows, cols = n.inp(1)
            return rows * cols, 0
    """

    def register(fn: _F) -> _F:
        for op in ops:
            if (domain, op) in REGISTRY:
                raise ValueError(f"duplicate formula for {domain or 'onnx'}::{op}")
            REGISTRY[(domain, op)] = fn
        return fn

    return register


def lookup(domain: str, op: str) -> Formula | None:
    return REGISTRY.get(("" if domain == "ai.onnx" else domain, op))


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)
