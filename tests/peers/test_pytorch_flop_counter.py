"""Peer cases from PyTorch's own test suite: pytorch/pytorch test/test_flop_counter.py.

Their convention: FlopCounterMode FLOPs = 2 per multiply-accumulate of matmul-class
ops (mm, bmm, addmm, baddbmm, convolution, attention), nothing else; causal attention
not discounted; forward plus backward when the test runs `.backward()`.
Ours: flops = 2 * macs, one forward pass. So for a forward-only case the peer's
value is our `flops`; where the test runs backward the conversion is written out.
Every forward-only case is also run live under FlopCounterMode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.peers.counting import count, image, meta, module_stats, reference_flops
from tests.peers.models import ResNet


def T(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


def _variety() -> None:
    torch.mm(T(4, 5), T(5, 6))
    torch.addmm(T(4, 6), T(4, 5), T(5, 6), beta=0.5, alpha=0.5)
    torch.matmul(T(5, 6), T(6, 7))
    torch.einsum("ab,bc->ac", T(6, 7), T(7, 8))
    nn.Linear(9, 10)(T(8, 9))


def _three_addmm() -> None:
    torch.addmm(T(4, 6), T(4, 5), T(5, 6))
    torch.addmm(T(4, 1), T(4, 5), T(5, 6))
    torch.addmm(T(6), T(4, 5), T(5, 6))


def _mm_out() -> torch.Tensor:
    x = T(10, 10)
    return torch.mm(x, x, out=torch.zeros(10, 10))


# (test name, forward call, the peer's expected FLOPs). All forward only: peer == 2 * our macs.
FORWARD_CASES: list[tuple[str, Callable[[], Any], int]] = [
    # 240 + 240 + 420 + 672 + 1440: 2 * (4*5*6 + 4*5*6 + 5*6*7 + 6*7*8 + 8*9*10)
    ("test_flop_counter_variety", _variety, 3012),
    ("test_op mm", lambda: torch.mm(T(4, 5), T(5, 6)), 240),  # 4 * 6 * 2 * 5
    ("test_op bmm", lambda: torch.bmm(T(3, 4, 5), T(3, 5, 6)), 720),  # 3 * 4 * 6 * 2 * 5
    ("test_op addmm x3", _three_addmm, 720),  # 3 * 240: the bias shape does not matter
    ("test_op baddbmm", lambda: torch.baddbmm(T(3, 4, 6), T(3, 4, 5), T(3, 5, 6)), 720),
    # out 2 x 5x5 (padding 1), kernel 4x4, c_out 6, c_in 3: 2*25 * 16 * 6 * 2 * 3
    ("test_op conv2d", lambda: torch.conv2d(T(2, 3, 6, 6), T(6, 3, 4, 4), padding=1), 28800),
    ("test_op conv1d", lambda: torch.conv1d(T(2, 3, 6), T(6, 3, 4), padding=1), 1440),  # 2*5 * 4 * 6 * 2 * 3
    # transposed: each of the 2x2 input points meets the 1x1x2x2 kernel: 4 * 4 * 2
    ("test_convs conv_transpose2d", lambda: F.conv_transpose2d(T(1, 1, 2, 2), T(1, 1, 2, 2)), 32),
    ("test_convs conv2d 1x1", lambda: F.conv2d(T(1, 1, 2, 2), T(1, 1, 1, 1)), 8),  # 4 outputs * 1 * 2
    ("test_addmm_out", _mm_out, 2000),  # 10*10*10 * 2
]


@pytest.mark.parametrize(("name", "call", "peer_flops"), FORWARD_CASES, ids=[c[0] for c in FORWARD_CASES])
def test_forward_cases(name: str, call: Callable[[], Any], peer_flops: int) -> None:
    m = count(call)
    assert m.flops == 2 * m.macs == peer_flops
    assert reference_flops(call) == peer_flops  # and FlopCounterMode agrees, run live
    assert m.uncounted_ops == {}


def test_backward() -> None:
    # test_backward: 5184, forward and backward. Forward: mm 4*5*6 = 120 MACs, bmm on the
    # expanded [7, 4, 6] x [7, 6, 7] = 1176 MACs; 2 * 1296 = 2592 FLOPs. Only `a` needs a
    # gradient, so each op's backward is one matmul of its own size: backward = forward.
    def forward(a: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        return torch.bmm(torch.mm(a, w1).unsqueeze(0).expand(7, 4, 6), w2)

    m = count(forward, T(4, 5), T(5, 6), T(7, 6, 7))
    assert m.flops == 2592
    assert 2 * m.flops == 5184


def test_backward_reset() -> None:
    # test_backward_reset: 960 for two rounds of a.mm(a.t()).sum().backward() with a [4, 5].
    # Forward 4*5*4 = 80 MACs = 160 FLOPs; both operands need a gradient: backward 2 * 160.
    m = count(lambda a: a.mm(a.t()), T(4, 5))
    assert m.flops == 160
    assert 2 * (m.flops + 2 * m.flops) == 960


def test_autograd_op() -> None:
    # test_autograd_op: 750. The custom Function's forward is one mm of 5x5x5 = 125 MACs
    # (250 FLOPs); its backward runs two more mms of the same size (500).
    class MmItself(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            return torch.mm(x, x)

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            return torch.mm(grad, grad) + torch.mm(grad, grad)

    m = count(MmItself.apply, T(5, 5))
    assert m.flops == 250
    assert m.flops + 2 * m.flops == 750


def test_conv_transpose_loop() -> None:
    # test_conv_transpose_loop: 1,536,000 for 50 rounds of forward and backward.
    # Forward: 30*2 input points * (4*8*2*2) = 7680 MACs = 15,360 FLOPs; the input needs
    # no gradient, so backward is the weight gradient alone, as large: 50 * 2 * 15,360.
    m = count(nn.ConvTranspose2d(4, 8, (2, 2), stride=2), T(1, 4, 30, 2))
    assert m.flops == 15_360
    assert 50 * 2 * m.flops == 1_536_000


def test_pytrees() -> None:
    # test_pytrees: module Mod (two mms of 10x10x10 through dicts) 12,000 and Mod2 (one mm
    # returned in a tuple) 6,000, forward and backward: each mm 2000 forward + 4000 backward.
    class Foo(nn.Module):
        def forward(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            y = x["a"].relu_()
            return {"a": torch.mm(y, y)}

    class Mod(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = Foo(), Foo()

        def forward(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            out: dict[str, torch.Tensor] = self.b(self.a(x))
            return out

    m = count(Mod(), {"a": T(10, 10)})
    assert (m.flops, 3 * m.flops) == (4000, 12_000)
    m2 = count(lambda x: (torch.mm(x, x),), T(10, 10))
    assert (m2.flops, 3 * m2.flops) == (2000, 6000)


def test_module_resnet18() -> None:
    # test_module: torchvision resnet18, forward and backward with the input's gradient:
    # 10,884,440,064 = 3 * 3,628,146,688 (backward = 2 x forward: input and weight
    # gradients). ResNet.layer1's convolutions: forward 924,844,032 = 4 convs * 56*56 * 64*64*3*3 * 2.
    m = count(meta(lambda: ResNet((2, 2, 2, 2))), image())
    assert m.flops == 3_628_146_688
    assert 3 * m.flops == 10_884_440_064
    assert module_stats(m, "layer1").flops == 924_844_032


@pytest.mark.parametrize(
    ("seq_k", "peer_flops"),
    [
        # b=4, h=8, Lq=Lk=128, E=Ev=64: 2 * 4*8*128*128 * (64 + 64); causal not discounted
        (128, 134_217_728),
        (256, 268_435_456),  # Lk=256: twice the scores
    ],
)
def test_sdpa(seq_k: int, peer_flops: int) -> None:
    # test_sdpa (CUDA-only there; its forward figures): F.scaled_dot_product_attention(is_causal=True).
    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=seq_k == 128)

    q, k, v = T(4, 8, 128, 64), T(4, 8, seq_k, 64), T(4, 8, seq_k, 64)
    m = count(attend, q, k, v)
    assert m.flops == peer_flops
    # FlopCounterMode live, on meta (where SDPA runs as bmm + softmax + bmm): on CPU
    # tensors torch 2.13 picks the CPU flash kernel, which FlopCounterMode counts as 0.
    assert reference_flops(attend, *(t.to("meta") for t in (q, k, v))) == peer_flops


def test_sdpa_forward_and_backward_figures() -> None:
    # test_sdpa, Lk=256 (Lq=128, b=4, h=8, E=Ev=64): forward and backward 805,306,368 with the
    # math backend = 3 x forward (a backward matmul per operand of each of the two matmuls),
    # 939,524,096 with the memory-efficient kernel = 3.5 x forward (its backward recomputes
    # the scores: one more Q @ K^T). We count forward only: 268,435,456.
    m = count(F.scaled_dot_product_attention, T(4, 8, 128, 64), T(4, 8, 256, 64), T(4, 8, 256, 64))
    assert 3 * m.flops == 805_306_368
    assert 7 * m.flops // 2 == 939_524_096
