"""Nested tensors (torch.nested) are refused with FG312, naming the op: never an
AttributeError from a nested int or a RecursionError from attention."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.measure.torch_engine.counter import count_forward
from pytest_flopguard.measure.torch_engine.execute import count_model


def _nested(layout: torch.layout) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the strided layout warns that it is a prototype
        return torch.nested.nested_tensor([torch.randn(3, 8), torch.randn(5, 8)], layout=layout)


class Relu(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.lin(x)
        return out


class Attention(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.unflatten(-1, (2, 4)).transpose(1, 2)  # [B, heads, ragged L, 4]
        return F.scaled_dot_product_attention(q, q, q)


class MakesOne(nn.Module):
    """Dense inputs; the forward packs them into a jagged batch itself."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = torch.nested.nested_tensor([x[0, :3], x[1]], layout=torch.jagged)
        out: torch.Tensor = self.lin(packed)
        return out


@pytest.mark.parametrize("layout", [torch.jagged, torch.strided], ids=["jagged", "strided"])
@pytest.mark.parametrize("model", [Relu, Linear, Attention])
def test_a_nested_input_is_refused_naming_the_inputs(model: Any, layout: torch.layout) -> None:
    with pytest.raises(FlopguardError) as info:
        count_forward(model(), (_nested(layout),))
    assert info.value.code == "FG312"
    assert str(info.value).startswith(f"the model's inputs got a nested tensor (torch.nested, layout={layout})")
    assert "to_padded_tensor" in str(info.value.fix)


@pytest.mark.parametrize("model", [Relu, Linear, Attention])
def test_each_op_refuses_a_nested_tensor_it_meets(model: Any) -> None:
    class Wrap(nn.Module):  # the input is dense; the nested tensor is built inside
        def __init__(self) -> None:
            super().__init__()
            self.inner = model()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.inner(torch.nested.as_nested_tensor(list(x), layout=torch.jagged))
            return out

    with pytest.raises(FlopguardError, match=r"^aten\.\S+ got a nested tensor \(torch\.nested, layout=torch\.jagged\)"):
        count_forward(Wrap(), (torch.randn(2, 5, 8),))


def test_budget_model_that_makes_a_nested_tensor_is_refused_with_its_line() -> None:
    # Through hybrid execution: the refusal is final (no fallback to a real CPU run).
    with pytest.raises(FlopguardError) as info:
        count_model(MakesOne, lambda device, model: ((torch.randn(2, 5, 8),), {}))
    assert info.value.code == "FG312"
    assert "test_nested.py:" in str(info.value)  # the model's own line: `packed = torch.nested...`
    assert "packed = torch.nested.nested_tensor" in str(info.value)
