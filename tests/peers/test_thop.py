"""Peer cases from thop: Lyken17/pytorch-OpCounter tests/ and its fork ultralytics/thop tests/.

thop's convention (`thop/vision/basic_hooks.py`): `profile` returns MACs of conv and
linear layers, bias adds not counted, ReLU and max pooling free (zero_ops); one
module hook per layer, and a `custom_ops` rule is added to the rules of the layers
inside the module it covers. Ours: macs the same, the rest in `flops_other`.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.peers.counting import count, reference_flops


def T(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


@pytest.mark.parametrize("bias", [False, True], ids=["test_conv2d_no_bias", "test_conv2d"])
def test_conv2d(bias: bool) -> None:
    # tests/test_conv2d.py (both repositories): Conv2d(3, 12, 5, padding=1) on [1, 3, 32, 32]
    # -> 810,000 with or without bias: out 30x30, 12 * 30*30 * 3*5*5.
    conv = nn.Conv2d(3, 12, kernel_size=(5, 5), stride=1, padding=1, dilation=1, groups=1, bias=bias)
    m = count(conv, T(1, 3, 32, 32))
    assert m.macs == 810_000
    assert m.flops_other == (12 * 30 * 30 if bias else 0)  # the bias thop leaves out: ours, apart


@pytest.mark.parametrize(
    ("n", "c_in", "side", "c_out", "kh", "kw"),
    [(3, 7, 19, 11, 5, 2), (1, 16, 9, 4, 1, 7), (8, 2, 30, 19, 13, 13)],  # fixed draws of its random test
)
def test_conv2d_random(n: int, c_in: int, side: int, c_out: int, kh: int, kw: int) -> None:
    # test_conv2d_random: padding 1, stride 1; thop's expected n * out_c * oh * ow // g * in_c * kh * kw.
    conv = nn.Conv2d(c_in, c_out, kernel_size=(kh, kw), padding=1, bias=False)
    x = T(n, c_in, side + kh, side + kw)
    oh, ow = side + 3, side + 3  # (side + k) + 2*1 - k + 1
    m = count(conv, x)
    assert m.macs == n * c_out * oh * ow // 1 * c_in * kh * kw
    assert reference_flops(conv, x) == 2 * m.macs


def test_linear() -> None:
    # tests/test_matmul.py: nn.Linear(100, 200) on [1, 100] -> n * in_c * out_c = 20,000.
    m = count(nn.Linear(100, 200), T(1, 100))
    assert (m.macs, m.flops_other) == (1 * 100 * 200, 200)  # the bias: ours, in flops_other


def test_relu() -> None:
    # tests/test_relu.py: nn.ReLU() on [1, 100] -> 0 (thop's zero_ops). We count one
    # comparison per element in flops_other; no MACs either way.
    m = count(nn.ReLU(), T(1, 100))
    assert (m.macs, m.flops_other) == (0, 100)


class CallsChild(nn.Module):
    def __init__(self, keyword: bool) -> None:
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)
        self.keyword = keyword

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.c(input=x) if self.keyword else self.c(x)
        return out


@pytest.mark.parametrize("keyword", [False, True])
def test_keyword_called_modules(keyword: bool) -> None:
    # ultralytics/thop tests/test_keyword_called_modules.py: Conv2d(3, 4, 3) on [1, 3, 8, 8],
    # called positionally or as `input=x`: CONV_3_4 = 4 * 6*6 * 3*3*3 = 3888 either way.
    assert count(CallsChild(keyword), torch.zeros(1, 3, 8, 8)).macs == 4 * 6 * 6 * (3 * 3 * 3)


def test_custom_ops_rule_over_a_counted_child() -> None:
    # ultralytics/thop tests/test_custom_ops.py: a module wrapping Conv2d(3, 64, 3, padding=1),
    # given a custom rule, on [1, 3, 224, 224]: thop expects 173,408,256, params 1792.
    # The convolution is 3*3 * 3 * 64 * 224*224 = 86,704,128 MACs: thop adds the wrapper's
    # rule to the convolution's own, so its figure is the convolution twice. Ours: once.
    class CustomModule(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 64, kernel_size=3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.conv(x)
            return out

    m = count(CustomModule(), T(1, 3, 224, 224))
    assert (m.macs, m.params) == (86_704_128, 1792)
    assert 2 * m.macs == 173_408_256
