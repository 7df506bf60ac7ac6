"""Attention kernels called directly, with the SDPA convention: batch * q_heads * Lq * Lk * (E + Ev)
MACs, 5 softmax FLOPs per score in flops_other.

They have no CPU implementation: the counter runs them on meta (a model on the
meta device, or the hybrid path of a budget model, whose CPU inputs they meet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pytest_flopguard.measure.torch_engine.counter import count_forward
from pytest_flopguard.measure.torch_engine.execute import count_model

aten = torch.ops.aten
B, HQ, HKV, LQ, LK, E, EV = 2, 4, 2, 8, 64, 32, 16  # GQA: 4 query heads share 2 K/V heads
SCORES = B * HQ * LQ * LK  # 2 * 4 * 8 * 64 = 4096
MACS = SCORES * (E + EV)  # 4096 * 48 = 196,608: Q @ K^T (E each) + P @ V (Ev each)
SOFTMAX = 5 * SCORES  # 20,480


def _bshd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, L, E] -> [B, L, H, E]


def _rep(t: torch.Tensor) -> torch.Tensor:
    return t.repeat_interleave(HQ // HKV, dim=1)  # kernels without GQA: K/V heads broadcast by hand


# Each takes q [B, HQ, LQ, E], k [B, HKV, LK, E], v [B, HKV, LK, EV] (SDPA's layout).
KERNELS: dict[str, Callable[..., Any]] = {
    "_flash_attention_forward": lambda q, k, v: aten._flash_attention_forward(
        *_bshd(q, k, v), None, None, LQ, LK, 0.0, False, False
    ),
    "_efficient_attention_forward": lambda q, k, v: aten._efficient_attention_forward(
        *_bshd(q, k, v), None, None, None, LQ, LK, 0.0, 0
    ),
    "_scaled_dot_product_efficient_attention": lambda q, k, v: aten._scaled_dot_product_efficient_attention(
        q, _rep(k), _rep(v), None, False
    ),
    "_scaled_dot_product_cudnn_attention": lambda q, k, v: aten._scaled_dot_product_cudnn_attention(
        q, _rep(k), _rep(v), None, False
    ),
    "_scaled_dot_product_flash_attention": lambda q, k, v: aten._scaled_dot_product_flash_attention(
        q, _rep(k), _rep(v)
    ),
}


class Attention(nn.Module):
    """Projections (weights) then one attention kernel, as a model calls it."""

    def __init__(self, kernel: Callable[..., Any]) -> None:
        super().__init__()
        self.kernel = kernel
        self.q = nn.Linear(E, HQ * E, bias=False)

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q = self.q(x).view(B, LQ, HQ, E).transpose(1, 2)
        out: torch.Tensor = self.kernel(q, k, v)[0]
        return out


def _kv(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(B, HKV, LK, E, device=device), torch.randn(B, HKV, LK, EV, device=device)


PROJECTION = B * LQ * E * HQ * E  # 2 * 8 * 32 * 128 = 65,536


@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_counted_on_meta_equals_the_analytic_figure(name: str) -> None:
    model = Attention(KERNELS[name]).to("meta")
    m = count_forward(model, (torch.randn(B, LQ, E, device="meta"), *_kv("meta")))
    assert m.uncounted_ops == {}
    assert (m.macs - PROJECTION, m.flops_other) == (MACS, SOFTMAX)


@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_counted_through_the_hybrid_path_on_cpu_inputs(name: str) -> None:
    # Weights on meta, x/k/v real CPU tensors: the query is meta (it comes from a weight),
    # K and V are real; the kernel has no CPU implementation, and still counts.
    m = count_model(lambda: Attention(KERNELS[name]), lambda device, model: ((torch.randn(B, LQ, E), *_kv("cpu")), {}))
    assert (m.execution, m.notes, m.uncounted_ops) == ("hybrid", (), {})
    assert (m.macs - PROJECTION, m.flops_other) == (MACS, SOFTMAX)


def test_kernel_on_cpu_tensors_only_runs_on_meta_in_hybrid_execution() -> None:
    class KernelOnInputs(nn.Module):  # no weight anywhere near the kernel
        def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = KERNELS["_flash_attention_forward"](q, k, v)[0]
            return out

    inputs = (torch.randn(B, HQ, LQ, E), *_kv("cpu"))
    m = count_model(KernelOnInputs, lambda device, model: (inputs, {}))
    assert (m.execution, m.macs, m.flops_other) == ("hybrid", MACS, SOFTMAX)


@pytest.mark.parametrize("name", ["_efficient_attention_forward", "_flash_attention_forward"])
def test_flop_counter_mode_misreads_the_kernels_layout(name: str) -> None:
    # Self-attention in the kernel's [B, M, H, K] layout: M = N = 64 positions, H = 4 heads.
    # FlopCounterMode reads it as [B, H, M, K] (H=64 heads of 4 positions):
    # 2 * B*M * H*H * (K + Kv) = 2 * 128 * 16 * 48 = 196,608 FLOPs, where the work is
    # 2 * B*H * M*N * (K + Kv) = 2 * 8 * 4096 * 48 = 3,145,728: H/N = 1/16 of it.
    q, k, v = torch.empty(B, 64, HQ, E), torch.empty(B, 64, HQ, E), torch.empty(B, 64, HQ, EV)
    q, k, v = q.to("meta"), k.to("meta"), v.to("meta")

    def kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Any:
        if name == "_flash_attention_forward":
            return aten._flash_attention_forward(q, k, v, None, None, 64, 64, 0.0, False, False)
        return aten._efficient_attention_forward(q, k, v, None, None, None, 64, 64, 0.0, 0)

    with FlopCounterMode(display=False) as counter:
        kernel(q, k, v)
    # torch 2.14 reads the flash kernel's layout right (the efficient one still wrong).
    fixed = name == "_flash_attention_forward" and _torch_minor() >= (2, 14)
    assert counter.get_total_flops() == (3_145_728 if fixed else 196_608)
    m = count_forward(_Call(kernel), (q, k, v))
    assert (m.flops, m.flops_other) == (3_145_728, 5 * B * HQ * 64 * 64)  # softmax: 5 * 32,768 scores


def _torch_minor() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def test_packed_variable_length_call_is_reported_uncounted() -> None:
    # [total, heads, dim] with offsets: the work is sum(Lq_i * Lk_i), in the offsets' values.
    q, k, v = (torch.empty(12, HQ, E, device="meta") for _ in range(3))
    cum = torch.tensor([0, 4, 12], dtype=torch.int32, device="meta")

    def kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Any:
        return aten._flash_attention_forward(q, k, v, cum, cum, 8, 8, 0.0, False, False)

    m = count_forward(_Call(kernel), (q, k, v))
    assert (m.macs, m.flops_other) == (0, 0)
    assert m.uncounted_ops == {"aten._flash_attention_forward.default": 1}


class _Call(nn.Module):
    def __init__(self, kernel: Callable[..., Any]) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.kernel(q, k, v)[0]
        return out
