"""What `data_dependent: upper_bound` assumes of a value computed from the weights.

A detection head keeps the boxes whose score passes a threshold and that NMS
keeps; with weights on meta the scores have no values, so the number kept is
unknown. The default is a real CPU run with seeded random weights: exact for
*those* weights, which are not the trained ones. The budget can instead choose
the upper bound, counted on meta weights in a fraction of the time and
independent of any weights: every weight-derived mask is all true, NMS keeps
every box, and `unique` finds one value (for per-class NMS loops, one class
holding every box is the costliest split: sum n_c^2 <= (sum n_c)^2).

Each function takes the op's arguments and returns its result under the
assumption; indices are real (they are positions, known from the shape) when
small, so code that reads them still runs. `.item()` has no bound: a model that
reads a weight-derived scalar is still counted on a real run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from pytest_flopguard.measure.torch_engine.hybrid import MAX_REAL_FACTORY, META

Assume = Callable[..., Any]
ALL_TRUE = "every weight-derived mask is all true"
ONE_VALUE = "unique finds one value"


def all_positions(shape: torch.Size) -> torch.Tensor:
    """`nonzero()` of an all-true tensor of `shape`: [numel, ndim] indices."""
    numel = shape.numel()
    if numel > MAX_REAL_FACTORY:
        return torch.empty((numel, len(shape)), dtype=torch.long, device=META)
    return torch.ones(shape, dtype=torch.bool).nonzero()


def _nonzero(x: torch.Tensor) -> torch.Tensor:
    return all_positions(x.shape)


def _nonzero_static(x: torch.Tensor, *, size: int, fill_value: int = -1) -> torch.Tensor:
    return torch.empty((size, x.dim()), dtype=torch.long, device=META)  # its shape is static anyway


def _masked_select(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    size = torch.broadcast_shapes(x.shape, mask.shape).numel()  # type: ignore[no-untyped-call]  # untyped in torch
    return torch.empty(size, dtype=x.dtype, device=META)


def _unique_parts(x: torch.Tensor, inverse: bool, counts: bool, dim: int | None = None) -> tuple[torch.Tensor, ...]:
    values_shape = [1] if dim is None else [*x.shape[:dim], 1, *x.shape[dim + 1 :]]
    values = torch.empty(values_shape, dtype=x.dtype, device=META)
    inverse_shape = (x.shape if dim is None else [x.shape[dim]]) if inverse else [0]
    counted = x.numel() if dim is None else x.shape[dim]
    return (
        values,
        torch.zeros(inverse_shape, dtype=torch.long),  # every element is the one value
        torch.full([1] if counts else [0], counted, dtype=torch.long),
    )


def _unique(x: torch.Tensor, sorted: bool = True, return_inverse: bool = False) -> tuple[torch.Tensor, ...]:
    return _unique_parts(x, return_inverse, False)[:2]


def _unique2(
    x: torch.Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False
) -> tuple[torch.Tensor, ...]:
    return _unique_parts(x, return_inverse, return_counts)


def _unique_dim(
    x: torch.Tensor, dim: int, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False
) -> tuple[torch.Tensor, ...]:
    return _unique_parts(x, return_inverse, return_counts, dim % max(x.dim(), 1))


def _unique_consecutive(
    x: torch.Tensor, return_inverse: bool = False, return_counts: bool = False, dim: int | None = None
) -> tuple[torch.Tensor, ...]:
    return _unique_parts(x, return_inverse, return_counts, None if dim is None else dim % max(x.dim(), 1))


def _bincount(x: torch.Tensor, weights: torch.Tensor | None = None, minlength: int = 0) -> torch.Tensor:
    dtype = torch.long if weights is None else _bincount_dtype(weights.dtype)
    return torch.empty(max(minlength, 1), dtype=dtype, device=META)  # every value below minlength


@functools.cache
def _bincount_dtype(weights: torch.dtype) -> torch.dtype:
    """What torch's own bincount gives for weights of this dtype (float32 stays, half becomes double)."""
    return torch.bincount(torch.zeros(1, dtype=torch.long), weights=torch.zeros(1, dtype=weights)).dtype  # (an empty one: int64)


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    return torch.arange(boxes.shape[0])  # every box kept


# The op's name -> (what is assumed, its result). Ops absent here have no bound.
ASSUMPTIONS: dict[str, tuple[str, Assume]] = {
    "aten::nonzero": (ALL_TRUE, _nonzero),
    "aten::nonzero_static": (ALL_TRUE, _nonzero_static),
    "aten::masked_select": (ALL_TRUE, _masked_select),
    "aten::_unique": (ONE_VALUE, _unique),
    "aten::_unique2": (ONE_VALUE, _unique2),
    "aten::unique_dim": (ONE_VALUE, _unique_dim),
    "aten::unique_consecutive": (ONE_VALUE, _unique_consecutive),
    "aten::bincount": ("bincount's values are below its minlength", _bincount),
    "torchvision::nms": ("NMS keeps every box", _nms),
}
