"""Hybrid execution: meta weights, real inputs — exact counts without weights."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch import nn

from pytest_flopguard.errors import FlopguardError
from pytest_flopguard.measure.torch_engine.counter import count_forward
from pytest_flopguard.measure.torch_engine.execute import count_model
from pytest_flopguard.measure.torch_engine.hybrid import HybridSession, WeightValueNeeded
from pytest_flopguard.measure.types import Measurement
from tests.helpers.llama_like import Config, tiny_llama

Inputs = tuple[tuple[Any, ...], dict[str, Any]]


def ids_for(tokens: int) -> Any:
    def make(device: torch.device, model: nn.Module) -> Inputs:
        return (torch.randint(0, 128, (1, tokens), device=device),), {}

    return make


def real_count(build: Any, make_inputs: Any) -> Measurement:
    torch.manual_seed(0)
    model = build()
    torch.manual_seed(0)
    args, kwargs = make_inputs(torch.device("cpu"), model)
    return count_forward(model, args, kwargs)


def same_counts(a: Measurement, b: Measurement) -> None:
    assert dataclasses.replace(a, execution="", notes=()) == dataclasses.replace(b, execution="", notes=())


def test_llama_like_counts_exactly_without_weights() -> None:
    m = count_model(tiny_llama, ids_for(32))
    assert (m.execution, m.notes, dict(m.uncounted_ops)) == ("hybrid", (), {})
    cfg = Config(vocab=128, dim=64, layers=2, heads=4, kv_heads=2, intermediate=160)
    # per layer: q,o 32*64*64 each = 262,144; k,v (2 kv heads * 16) 32*64*32 each = 131,072;
    # MLP 3 * 32*64*160 = 983,040; attention 2 * 32*32*64 = 131,072 -> 1,245,184 + 262,144 = 1,507,328
    # two layers 3,014,656 + lm head 32*64*128 = 262,144 -> 3,276,800
    assert m.macs == 3_276_800 == cfg.analytic_macs(32)
    # per layer: 4096+2048+2048+4096 + 3*10240 + 128 = 43,136; x2 = 86,272; embed + head 2*8192; norm 64
    assert m.params == 102_720 == cfg.analytic_params()


def test_hybrid_equals_a_real_run_in_every_figure() -> None:
    same_counts(count_model(tiny_llama, ids_for(32)), real_count(tiny_llama, ids_for(32)))


def test_plain_meta_execution_fails_where_hybrid_works() -> None:
    with torch.device("meta"):
        model = tiny_llama()
        ids = torch.randint(0, 128, (1, 32))
    with pytest.raises((RuntimeError, NotImplementedError)):
        count_forward(model, (ids,), {})


class WritesIntoRealBuffer(nn.Module):
    """Writes a weight-derived (meta) result into a tensor created real."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        buf = torch.zeros(x.shape[0], 8)  # no device: real under hybrid
        buf[:, :4] = self.lin(x)[:, :4]  # meta data into a real tensor: tainted
        return (buf * 2).sum()  # must still be counted, on meta


def test_in_place_write_of_meta_data_taints_the_real_tensor() -> None:
    def make(device: torch.device, model: nn.Module) -> Inputs:
        return (torch.randn(3, 8, device=device),), {}

    m = count_model(WritesIntoRealBuffer, make)
    assert m.execution == "hybrid"
    same_counts(m, real_count(WritesIntoRealBuffer, make))


class MovesInputsToWeights(nn.Module):
    """`ids.to(w.device)` and `torch.arange(..., device=w.device)` then `.item()`."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.to(self.emb.weight.device)
        steps = torch.arange(ids.shape[1], device=self.emb.weight.device)
        last = int((ids.max() + steps.max()).item())  # needs both to be real
        return self.emb(ids[:, : max(1, last % ids.shape[1])])


def test_factories_and_to_that_target_meta_stay_real() -> None:
    def make(device: torch.device, model: nn.Module) -> Inputs:
        return (torch.randint(0, 50, (2, 6), device=device),), {}

    m = count_model(MovesInputsToWeights, make)
    assert (m.execution, m.notes) == ("hybrid", ())
    same_counts(m, real_count(MovesInputsToWeights, make))


def test_weight_value_names_the_model_line() -> None:
    class ReadsWeight(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.w.sum().item()

    with torch.device("meta"):
        model = ReadsWeight()
    with pytest.raises(
        WeightValueNeeded,
        match=r"computed from its weights \(aten._local_scalar_dense\) at .*test_hybrid.py:\d+ \(return x \* self.w.sum\(\).item\(\)\)",
    ):
        count_forward(model, (torch.ones(2),), {}, below=HybridSession().running)


def test_real_run_refused_when_weights_are_too_big(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.models_zoo import NeedsWeightValue

    monkeypatch.setenv("FLOPGUARD_MAX_REAL_BYTES", "64")
    with pytest.raises(FlopguardError) as info:
        count_model(NeedsWeightValue, lambda device, model: ((torch.randn(1, 4),), {}))
    assert info.value.code == "FG310"
    assert "they take 80B, over the 64B allowed for a real run" in info.value.message
