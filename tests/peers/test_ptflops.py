"""Peer cases from ptflops: sovrasov/flops-counter.pytorch tests/common_test.py and the
torchvision table of its README.md.

ptflops' convention (pytorch backend, module hooks): one "MAC" per multiply-accumulate
of conv/linear layers *plus one per bias add* (each output of a layer with a bias),
batch norm 2 per element (affine), ReLU 1 per element, pooling 1 per input element,
interpolation 1 per output element; functional ops (a residual `x + y`) are not seen.
Ours: bias adds, norms, activations, pooling and interpolation are `flops_other`.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from tests.helpers.paper_models import ResNet50
from tests.peers.counting import (
    MAXPOOL,
    RESIDUAL_ADD,
    RESNET_POOL_INPUTS,
    SQUEEZENET_POOL_INPUTS,
    VGG_POOL_INPUTS,
    count,
    image,
    meta,
    other_of,
)
from tests.peers.models import VGG, AlexNet, ResNet, SqueezeNet


def T(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


def test_conv() -> None:
    # test_conv: Conv2d(3, 2, 3, bias=True) on [1, 3, 224, 224] -> 2,759,904 MACs, params 3*3*2*3 + 2.
    # Out 222x222: 2*222*222 * 3*3*3 = 2,661,336 multiply-accumulates + 2*222*222 = 98,568 bias adds.
    m = count(nn.Conv2d(3, 2, 3, bias=True), T(1, 3, 224, 224))
    assert (m.macs, m.flops_other, m.params) == (2_661_336, 98_568, 3 * 3 * 2 * 3 + 2)
    assert m.macs + m.flops_other == 2_759_904  # ptflops: the bias adds counted as MACs


def test_conv_t() -> None:
    # test_conv_t: ConvTranspose2d(3, 2, 3, stride=2, bias=True) on 224x224 -> 3,112,706 MACs.
    # Every input point meets the 3x2x3x3 kernel: 224*224 * 54 = 2,709,504; the output is
    # (224-1)*2 + 3 = 449 a side: bias adds 2*449*449 = 403,202.
    m = count(nn.ConvTranspose2d(3, 2, 3, stride=(2, 2), bias=True), T(1, 3, 224, 224))
    assert (m.macs, m.flops_other, m.params) == (2_709_504, 403_202, 3 * 3 * 2 * 3 + 2)
    assert m.macs + m.flops_other == 3_112_706


@pytest.mark.parametrize(
    ("name", "bias", "shape", "ptflops"),
    [
        # test_fc / test_input_constructor_tensor / _dict: (macs, params) == (8, 8): 3*2 + 2 bias adds
        ("test_fc", True, (1, 3), 8),
        ("test_fc_multidim, no bias", False, (1, 4, 5, 3), 3 * 2 * 4 * 5),  # 120
        ("test_fc_multidim, bias (earlier version)", True, (1, 4, 5, 3), (3 * 2 + 2) * 4 * 5),  # 160
    ],
)
def test_fc(name: str, bias: bool, shape: tuple[int, ...], ptflops: int) -> None:
    m = count(nn.Linear(3, 2, bias=bias), T(*shape))
    assert m.macs + m.flops_other == ptflops  # flops_other: the bias adds alone
    assert m.params == 3 * 2 + (2 if bias else 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: nn.functional.interpolate(input=x, size=(20, 20), mode="bilinear", align_corners=False),
        lambda x: nn.functional.interpolate(x, 20, mode="bilinear"),
        lambda x: nn.functional.interpolate(x, scale_factor=2, mode="bilinear"),
    ],
    ids=["size tuple", "size int", "scale_factor"],
)
def test_func_interpolate_args(call: Any) -> None:
    # test_func_interpolate_args: [1, 3, 10, 10] -> 20x20 bilinear: ptflops 1200, one per output.
    # We count the 4 weighted taps of each output: 4 * 3*20*20 = 4 * 1200.
    m = count(call, T(1, 3, 10, 10))
    assert (m.macs, m.params, m.flops_other) == (0, 0, 4 * 1200)


# README.md, torchvision at 224x224: (MACs in G, params in M), both to 2 decimals.
# ptflops' MACs = our macs + bias adds + batch norm + ReLU + pooling (1 per *input*
# element, where we count the window of each output) - nothing for the residual adds.
README = [
    ("alexnet", AlexNet, 0.72, 61.1, 64 * 55 * 55 + 192 * 27 * 27 + 256 * 13 * 13),  # pools see 376,832 inputs
    ("vgg11", lambda: VGG("vgg11"), 7.63, 132.86, VGG_POOL_INPUTS),
    ("vgg16", lambda: VGG("vgg16"), 15.5, 138.36, VGG_POOL_INPUTS),
    ("vgg11_bn", lambda: VGG("vgg11", batch_norm=True), 7.64, 132.87, VGG_POOL_INPUTS),
    ("vgg16_bn", lambda: VGG("vgg16", batch_norm=True), 15.53, 138.37, VGG_POOL_INPUTS),
    ("squeezenet1_0", lambda: SqueezeNet("1_0"), 0.83, 1.25, SQUEEZENET_POOL_INPUTS["1_0"]),
    ("squeezenet1_1", lambda: SqueezeNet("1_1"), 0.36, 1.24, SQUEEZENET_POOL_INPUTS["1_1"]),
    ("resnet18", lambda: ResNet((2, 2, 2, 2)), 1.82, 11.69, RESNET_POOL_INPUTS),
    ("resnet34", lambda: ResNet((3, 4, 6, 3)), 3.68, 21.8, RESNET_POOL_INPUTS),
    ("resnet50", ResNet50, 4.12, 25.56, RESNET_POOL_INPUTS),
    ("resnet101", lambda: ResNet50(blocks=(3, 4, 23, 3)), 7.85, 44.55, RESNET_POOL_INPUTS),
    ("resnet152", lambda: ResNet50(blocks=(3, 8, 36, 3)), 11.58, 60.19, RESNET_POOL_INPUTS),
]


@pytest.mark.parametrize(("name", "make", "gmacs", "mparams", "pool_inputs"), README, ids=[r[0] for r in README])
def test_readme_torchvision_table(name: str, make: Any, gmacs: float, mparams: float, pool_inputs: int) -> None:
    m = count(meta(make), image())
    ptflops = m.macs + m.flops_other - other_of(m, RESIDUAL_ADD) - other_of(m, MAXPOOL) + pool_inputs
    assert round(ptflops / 1e9, 2) == gmacs
    assert round(m.params / 1e6, 2) == mparams
