"""Nested tensors (`torch.nested`, jagged or strided) are refused by name (FG312).

Their shape has a ragged dimension: no formula reads it, and counting them fails
deep inside torch (an AttributeError on a nested int, or attention recursing
until RecursionError). The counter checks the inputs, every aten op and the
function-level attention calls, and stops with the op and the model's line.
"""

from __future__ import annotations

import traceback
from typing import Any

import torch

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.measure.torch_engine.hybrid import user_line


def refuse_nested(op: Any, args: Any, kwargs: dict[str, Any]) -> None:
    """Raise FG312 if an argument of ``op`` (or a tensor in a list argument) is nested.

    >>> refuse_nested("aten.relu.default", (torch.ones(2),), {})  # dense: nothing happens
    """
    for value in (*args, *kwargs.values()):
        for t in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(t, torch.Tensor) and t.is_nested:
                raise _nested_error(str(op), t)


def _nested_error(what: str, t: torch.Tensor) -> FlopguardError:
    layout = "torch.jagged" if t.layout == torch.jagged else "torch.strided"
    where = user_line(traceback.extract_stack())
    return FlopguardError(
        "FG312",
        f"{what} got a nested tensor (torch.nested, layout={layout}){where and ' at ' + where}; "
        "flopguard counts dense tensors only",
        fix="count a padded batch instead (torch.nested.to_padded_tensor(x, 0.0), or dense `inputs:` "
        "in the budget at the longest length: an upper bound), or one sequence at a time",
    )
