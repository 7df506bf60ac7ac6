"""Peer cases from calflops: MrYxJ/calculate-flops.pytorch README.md, the torchvision
benchmark table (input [1, 3, 224, 224]; totals given to 6 significant figures).

calflops' convention (after ptflops and DeepSpeed's profiler, patching
`torch.nn.functional`): MACs of conv/linear/matmul, as ours; FLOPs = 2 * MACs plus one
per bias add, 2 per batch-norm element (affine), 1 per ReLU element, 1 per pooled
*input* element; the `+` of a residual connection (a Tensor method) is not seen.
So calflops FLOPs = our flops + flops_other - residual adds - our max pooling (a window
per output) + the max pools' input elements.
"""

from __future__ import annotations

from typing import Any

import pytest

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


def six_figures(n: int) -> int:
    """`n` rounded to 6 significant figures, as the table prints its totals."""
    return round(n, 6 - len(str(n)))


# (model, Params(Total), FLOPs(Total), Macs(Total), max pool inputs) from the table.
TABLE = [
    ("vgg11", lambda: VGG("vgg11"), 132_863_000, 15_239_200_000, 7_609_090_000, VGG_POOL_INPUTS),
    ("vgg16", lambda: VGG("vgg16"), 138_358_000, 30_973_800_000, 15_470_300_000, VGG_POOL_INPUTS),
    ("vgg11_bn", lambda: VGG("vgg11", batch_norm=True), 132_869_000, 15_254_000_000, 7_609_090_000, VGG_POOL_INPUTS),
    ("vgg16_bn", lambda: VGG("vgg16", batch_norm=True), 138_366_000, 31_000_900_000, 15_470_300_000, VGG_POOL_INPUTS),
    ("squeezenet1_0", lambda: SqueezeNet("1_0"), 1_248_420, 1_648_970_000, 818_925_000, SQUEEZENET_POOL_INPUTS["1_0"]),
    ("squeezenet1_1", lambda: SqueezeNet("1_1"), 1_235_500, 705_014_000, 349_152_000, SQUEEZENET_POOL_INPUTS["1_1"]),
    ("resnet18", lambda: ResNet((2, 2, 2, 2)), 11_689_500, 3_636_250_000, 1_814_070_000, RESNET_POOL_INPUTS),
    ("resnet34", lambda: ResNet((3, 4, 6, 3)), 21_797_700, 7_339_390_000, 3_663_760_000, RESNET_POOL_INPUTS),
    ("resnet50", ResNet50, 25_557_000, 8_211_110_000, 4_089_180_000, RESNET_POOL_INPUTS),
    (
        "resnet152",
        lambda: ResNet50(blocks=(3, 8, 36, 3)),
        60_192_800,
        23_094_300_000,
        11_513_600_000,
        RESNET_POOL_INPUTS,
    ),
]


def calflops_flops(make: Any, pool_inputs: int) -> tuple[Any, int]:
    m = count(meta(make), image())
    return m, m.flops + m.flops_other - other_of(m, RESIDUAL_ADD) - other_of(m, MAXPOOL) + pool_inputs


@pytest.mark.parametrize(("name", "make", "params", "flops", "macs", "pool_inputs"), TABLE, ids=[t[0] for t in TABLE])
def test_torchvision_table(name: str, make: Any, params: int, flops: int, macs: int, pool_inputs: int) -> None:
    m, converted = calflops_flops(make, pool_inputs)
    assert (six_figures(m.macs), six_figures(m.params)) == (macs, params)
    assert six_figures(converted) == flops


def test_resnet101_flops_total_is_a_misprint() -> None:
    # resnet101: Params 44,549,200 and Macs 7,801,410,000 agree with ours; the FLOPs columns
    # disagree with each other: FLOPs(G) 15.65 but FLOPs(Total) 15,690,900,000. The arithmetic
    # (2 * 7,801,405,440 + 58,029,544 - 8,931,328 residual adds - 1,806,336 + 802,816 pooled
    # inputs = 15,650,905,576) gives the 15.65: the total has a 9 for a 5.
    m, converted = calflops_flops(lambda: ResNet50(blocks=(3, 4, 23, 3)), RESNET_POOL_INPUTS)
    assert (six_figures(m.params), six_figures(m.macs)) == (44_549_200, 7_801_410_000)
    assert round(converted / 1e9, 2) == 15.65
    misprint = 15_690_900_000
    assert six_figures(converted) == 15_650_900_000
    assert six_figures(converted) != misprint


def test_alexnet_macs_are_a_misprint() -> None:
    # alexnet: Params 61,100,840 (exact) and FLOPs 1.43 G agree with ours, but the table's
    # "Macs(G) 741.19" and "Macs(Total) 7418800000" do not: AlexNet's five convolutions and
    # three linears are 714,188,480 MACs (ptflops' table: 0.72 G), and FLOPs 1.43 G is about
    # 2 x 0.714 G. The table swapped two digits (741 for 714) and, in the total, added one.
    m = count(meta(AlexNet), image())
    assert (m.params, m.macs) == (61_100_840, 714_188_480)
    assert round(m.macs / 1e6, 2) == 714.19
    assert round((2 * m.macs + m.flops_other) / 1e9, 2) == 1.43
