"""Peer cases from fvcore: facebookresearch/fvcore tests/test_flop_count.py.

fvcore's convention (`fvcore/nn/jit_handles.py`): one "flop" per multiply-accumulate of
matmul-class ops (so fvcore flops == our `macs`), bias adds not counted; per element:
norms 4 (5 with an affine step), batch norm on running stats 1 (2 with affine),
adaptive average pooling 1 per input element, bilinear upsampling 4 per output;
the model traced in whatever mode it is in. fvcore reports GFLOPs (value / 1e9): the
integers below are the peers' expressions before that division.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.peers.counting import count, module_stats, other_of, reference_flops


def T(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


# --- matmul class: fvcore flops == our macs ------------------------------------------

MATMUL_CASES: list[tuple[str, Any, tuple[torch.Tensor, ...], int]] = [
    ("test_nn Linear(8, 4)", nn.Linear(8, 4), (T(5, 8),), 5 * 8 * 4),  # batch * in * out
    ("test_linear Linear(10, 20)", nn.Linear(10, 20), (T(5, 10),), 5 * 10 * 20),
    ("test_linear 3d input", nn.Linear(10, 20), (T(5, 5, 10),), 5 * 10 * 5 * 20),
    ("test_matmul", torch.matmul, (T(20, 10), T(10, 100)), 20 * 10 * 100),  # m * n * p
    ("test_matmul_broadcast 1xmxn", torch.matmul, (T(1, 20, 10), T(1, 10, 100)), 20 * 10 * 100),
    ("test_matmul_broadcast 2x2", torch.matmul, (T(2, 2, 20, 10), T(2, 2, 10, 100)), 4 * 20 * 10 * 100),
    ("test_matmul_broadcast 1xmxn @ nxp", torch.matmul, (T(1, 20, 10), T(10, 100)), 20 * 10 * 100),
    ("test_matmul_broadcast 2xmxn @ nxp", torch.matmul, (T(2, 20, 10), T(10, 100)), 2 * 20 * 10 * 100),
    ("test_bmm", torch.bmm, (T(2, 5, 2), T(2, 2, 12)), 2 * 2 * 12 * 5),  # n * t * p * c
    (
        "test_einsum nct,ncp->ntp",
        lambda x, y: torch.einsum("nct,ncp->ntp", x, y),
        (T(1, 5, 2), T(1, 5, 12)),
        1 * 2 * 12 * 5,
    ),
    (
        "test_einsum ntg,ncg->nct",
        lambda x, y: torch.einsum("ntg,ncg->nct", x, y),
        (T(1, 2, 6), T(1, 5, 6)),
        1 * 2 * 6 * 5,
    ),
    ("test_complicated_einsum", lambda x, y: torch.einsum("nc,nchw->hw", x, y), (T(3, 4), T(3, 4, 2, 3)), 72),
    ("test_torch_mm mm", torch.mm, (T(3, 4), T(4, 5)), 60),
    ("test_torch_mm matmul", torch.matmul, (T(3, 4), T(4, 5)), 60),
]


@pytest.mark.parametrize(("name", "model", "inputs", "fvcore"), MATMUL_CASES, ids=[c[0] for c in MATMUL_CASES])
def test_matmul_class(name: str, model: Any, inputs: tuple[torch.Tensor, ...], fvcore: int) -> None:
    m = count(model, *inputs)
    assert m.macs == fvcore
    assert reference_flops(model, *inputs) == 2 * fvcore  # FlopCounterMode, live: 2 per MAC


# test_conv: (conv dims, batch, in, out, spatial, kernel, padding, stride, groups, transposed,
# output_padding) and fvcore's ground truth batch * in * out * k^d * S^d / groups, where S is
# the output side, or the input side when transposed (every input point meets the kernel).
CONV_CASES = [
    ("2d", (2, 5, 10, 3, 15, 3, 1, 1, 1, False, 0), 303_750),  # 5*10*3 * 3^2 * 15^2
    ("2d stride 2", (2, 2, 10, 6, 20, 3, 1, 2, 1, False, 0), 108_000),  # 2*10*6 * 3^2 * 10^2
    ("group conv", (2, 5, 16, 8, 15, 5, 2, 1, 4, False, 0), 900_000),  # 5*16*8 * 5^2 * 15^2 / 4
    ("groups = out channels", (2, 5, 16, 8, 15, 3, 1, 1, 8, False, 0), 162_000),  # 5*16*8 * 3^2 * 15^2 / 8
    ("1d", (1, 5, 10, 3, 15, 3, 1, 1, 1, False, 0), 6_750),  # 5*10*3 * 3 * 15
    ("3d", (3, 5, 10, 3, 15, 3, 1, 1, 1, False, 0), 13_668_750),  # 5*10*3 * 3^3 * 15^3
    ("transposed 2d", (2, 5, 10, 3, 15, 3, 1, 1, 1, True, 0), 303_750),  # 5*10*3 * 3^2 * 15^2 (input side)
    ("transposed 2d stride 2", (2, 5, 10, 3, 15, 3, 1, 2, 1, True, 0), 303_750),
    ("transposed 2d stride 3, output_padding 2", (2, 5, 10, 3, 15, 3, 1, 3, 1, True, 2), 303_750),
]


@pytest.mark.parametrize(("name", "config", "fvcore"), CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv(name: str, config: tuple[Any, ...], fvcore: int) -> None:
    dims, batch, c_in, c_out, spatial, k, pad, stride, groups, transposed, out_pad = config
    layers = (
        (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
        if transposed
        else (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    )
    extra = {"output_padding": out_pad} if transposed else {}
    conv = layers[dims - 1](c_in, c_out, k, stride, pad, groups=groups, **extra)
    x = T(batch, c_in, *[spatial] * dims)
    m = count(conv, x)
    assert m.macs == fvcore
    assert m.flops_other == other_of(m, "aten.convolution.default") == conv(x).numel()  # the bias adds, apart


# --- normalisation, pooling, upsampling: per-element conventions ----------------------


def test_batchnorm_1d_eval_without_affine() -> None:
    # test_batchnorm BatchNorm1d(10, affine=False).eval(), x [10, 10]: fvcore 10*10 = 100, one
    # per element: it counts the folded (x - mean) * inv_std as one fused multiply-add.
    # We count a multiply and an add: 2 per element = 2 * fvcore.
    m = count(nn.BatchNorm1d(10, affine=False), T(10, 10))
    assert m.flops_other == 2 * 100


@pytest.mark.parametrize(("layer", "shape"), [(nn.BatchNorm2d, (10, 10, 5, 5)), (nn.BatchNorm3d, (10, 10, 5, 5, 5))])
def test_batchnorm_training_mode(layer: Any, shape: tuple[int, ...]) -> None:
    # test_batchnorm BatchNorm2d/3d(10, affine=False) left in training mode: fvcore 4 per element
    # (batch statistics, no affine): 4 * 10*10*5*5 = 10,000 and 4 * 10*10*5*5*5 = 50,000.
    elements = 1
    for n in shape:
        elements *= n
    fvcore = 4 * elements
    # We measure in eval mode (the SPEC): running statistics, 2 per element = fvcore / 2.
    assert count(layer(10, affine=False), T(*shape)).flops_other == fvcore // 2
    # The same layer on batch statistics in eval too (track_running_stats=False): fvcore's 4.
    assert count(layer(10, affine=False, track_running_stats=False), T(*shape)).flops_other == fvcore


def _vec() -> torch.Tensor:
    return torch.rand(2)


def same(fvcore: int) -> int:
    return fvcore


def fma_as_two(fvcore: int) -> int:
    return 2 * fvcore  # fvcore counts a fused multiply-add once, we count its multiply and its add


@pytest.mark.parametrize(
    ("name", "call", "fvcore", "to_ours"),
    [
        # TestFlopCountHandles.test_batch_norm, x [2, 2, 2, 2] = 16 elements:
        ("running stats + affine", lambda x: F.batch_norm(x, _vec(), _vec(), _vec(), _vec()), 32, same),
        ("running stats, no affine", lambda x: F.batch_norm(x, _vec(), _vec(), None, None), 16, fma_as_two),
        ("training=True + affine", lambda x: F.batch_norm(x, _vec(), _vec(), _vec(), _vec(), True), 80, same),
        # test_group_norm: 5 per element with affine, 4 without
        ("group_norm affine", lambda x: F.group_norm(x, 2, _vec(), _vec()), 80, same),
        ("group_norm no affine", lambda x: F.group_norm(x, 2, None, None), 64, same),
        # test_upsample: bilinear x2 of [2, 2, 2, 2] -> 64 outputs, 4 taps each: 2**4 * 4 * 4
        ("upsample_bilinear2d", lambda x: F.interpolate(x, None, 2, "bilinear", False), 256, same),
    ],
)
def test_handles(name: str, call: Any, fvcore: int, to_ours: Any) -> None:
    m = count(call, torch.rand(2, 2, 2, 2))
    assert (m.macs, m.flops_other) == (0, to_ours(fvcore))


class ThreeNet(nn.Module):
    """fvcore's ThreeNet: 1x1 conv, adaptive average pool to 1x1, two linears."""

    def __init__(self, input_dim: int = 2, conv_dim: int = 5, linear_dim: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_dim, conv_dim, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear1 = nn.Linear(conv_dim, linear_dim)
        self.linear2 = nn.Linear(linear_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear2(self.linear1(torch.flatten(self.pool(self.conv(x)), 1)))
        return out


def test_three_net_and_by_module() -> None:
    # test_threeNet / test_flop_counter_class, x [4, 2, 10, 10]:
    # conv 4 * 5 * 2 * 10*10 = 4000, linear1 4*5*3 = 60, linear2 4*3*1 = 12 (our macs);
    # pool 2e-6 GFLOPs = 2000 = 4*5*10*10 inputs (our flops_other: adaptive pooling, 1 per input).
    # fvcore's total 6072 adds the pool to the matmul work; ours keeps it apart.
    m = count(ThreeNet(), T(4, 2, 10, 10))
    by_module = {path: module_stats(m, path) for path in ("conv", "linear1", "linear2", "pool")}
    assert {p: s.macs for p, s in by_module.items()} == {"conv": 4000, "linear1": 60, "linear2": 12, "pool": 0}
    assert by_module["pool"].flops_other == 2000
    assert m.macs + by_module["pool"].flops_other == 6072
