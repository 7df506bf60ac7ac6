"""Formula registry: fixed MAC counts derived by hand, and agreement with
torch.utils.flop_counter.FlopCounterMode (flops == 2 * macs) where it has the op."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from pytest_flopguard.measure.torch_engine import formulas

aten = torch.ops.aten


class _Recorder(TorchDispatchMode):
    """Sums the registry's formulas over every aten op that runs."""

    def __init__(self) -> None:
        super().__init__()
        self.macs = 0
        self.other = 0
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.macs += formulas.evaluate("macs", func, args, kwargs, out)
        self.other += formulas.evaluate("flops_other", func, args, kwargs, out)
        self.ops.append(str(func))
        return out


def record(fn: Callable[[], Any]) -> _Recorder:
    with torch.no_grad(), _Recorder() as recorder:
        fn()
    return recorder


def reference_flops(fn: Callable[[], Any]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def r(*shape: int, device: str = "cpu") -> torch.Tensor:
    return torch.randn(*shape, device=device)


# (name, callable on CPU tensors, expected MACs). Each also runs under FlopCounterMode.
MATMUL_CASES: list[tuple[str, Callable[[], Any], int]] = [
    ("linear 512->1000", lambda: nn.Linear(512, 1000)(r(1, 512)), 512 * 1000),  # 512000
    ("linear no bias, 3d input", lambda: nn.Linear(4, 5, bias=False)(r(2, 3, 4)), 2 * 3 * 4 * 5),  # 120
    # ResNet-50 stem: out 112x112; 112*112 * 64 * 3*7*7 = 12544 * 9408
    ("conv 7x7 stride 2 pad 3", lambda: nn.Conv2d(3, 64, 7, stride=2, padding=3)(r(1, 3, 224, 224)), 118_013_952),
    # dilation 2: effective 5x5, out 6x6; 36 * 16 * 8*3*3
    ("conv dilated", lambda: nn.Conv2d(8, 16, 3, dilation=2)(r(1, 8, 10, 10)), 41_472),
    # depthwise: out 8x8; 64 * 32 * 1*3*3
    ("conv depthwise", lambda: nn.Conv2d(32, 32, 3, padding=1, groups=32)(r(1, 32, 8, 8)), 18_432),
    # groups=4: out 4x4, batch 2; 2 * 16 * 32 * (16/4)*3*3
    ("conv grouped", lambda: nn.Conv2d(16, 32, 3, groups=4)(r(2, 16, 6, 6)), 36_864),
    # conv1d: out 8; 8 * 8 * 4*3
    ("conv1d", lambda: nn.Conv1d(4, 8, 3)(r(1, 4, 10)), 768),
    # transposed: every INPUT point meets the filter bank; 5*5 * 8 * 4*3*3
    ("conv_transpose2d stride 2", lambda: nn.ConvTranspose2d(8, 4, 3, stride=2)(r(1, 8, 5, 5)), 7_200),
    # transposed, groups=2: w is [8, 2, 3, 3]; 25 * 8 * 2*3*3
    ("conv_transpose2d grouped", lambda: nn.ConvTranspose2d(8, 4, 3, stride=2, groups=2)(r(1, 8, 5, 5)), 3_600),
    ("mm", lambda: r(3, 4) @ r(4, 5), 3 * 4 * 5),  # 60
    ("bmm", lambda: torch.bmm(r(2, 3, 4), r(2, 4, 5)), 2 * 3 * 4 * 5),  # 120
    ("baddbmm", lambda: torch.baddbmm(r(2, 3, 5), r(2, 3, 4), r(2, 4, 5)), 2 * 3 * 4 * 5),  # 120
    ("matmul 4d broadcast", lambda: r(2, 3, 4, 5) @ r(2, 3, 5, 6), 2 * 3 * 4 * 5 * 6),  # 720
    # einsum decomposes to bmm at dispatch: 2*2 batches of 3x4 @ 4x5
    ("einsum", lambda: torch.einsum("bhqd,bhkd->bhqk", r(2, 2, 3, 4), r(2, 2, 5, 4)), 2 * 2 * 3 * 5 * 4),  # 240
    # bidirectional GRU decomposes to addmm on CPU: rows 5*2=10, per direction
    # w_ih 48x8 + w_hh 48x16 = 1152; 10 * 2 * 1152
    ("gru bidirectional", lambda: nn.GRU(8, 16, bidirectional=True)(r(5, 2, 8)), 23_040),
]


@pytest.mark.parametrize(("name", "fn", "expected"), MATMUL_CASES, ids=[c[0] for c in MATMUL_CASES])
def test_matmul_class_macs(name: str, fn: Callable[[], Any], expected: int) -> None:
    torch.manual_seed(0)
    assert record(fn).macs == expected
    assert reference_flops(fn) == 2 * expected


# q, k, v shapes -> expected MACs of attention (full, no causal discount).
SDPA_CASES = [
    # 2*4 heads * 8 queries * 8 keys * (16 + 16)
    ((2, 4, 8, 16), (2, 4, 8, 16), (2, 4, 8, 16), {}, 16_384),
    ((2, 4, 8, 16), (2, 4, 8, 16), (2, 4, 8, 16), {"is_causal": True}, 16_384),
    # GQA: 8 query heads share 2 KV heads; 8 * 6 * 10 * (16 + 16)
    ((1, 8, 6, 16), (1, 2, 10, 16), (1, 2, 10, 16), {"enable_gqa": True}, 15_360),
    # value dim 8: 8 * 6 * 10 * (16 + 8)
    ((1, 8, 6, 16), (1, 8, 10, 16), (1, 8, 10, 8), {}, 11_520),
]


@pytest.mark.parametrize(("q", "k", "v", "kwargs", "expected"), SDPA_CASES)
def test_sdpa_macs(
    q: tuple[int, ...], k: tuple[int, ...], v: tuple[int, ...], kwargs: dict[str, Any], expected: int
) -> None:
    # The function-level op the counter records.
    args = (r(*q), r(*k), r(*v))
    assert formulas.evaluate("macs", aten.scaled_dot_product_attention.default, args, kwargs, None) == expected
    # The CPU kernel, recorded at dispatch level (FlopCounterMode does not know
    # it); with Ev != E the CPU falls back to the math path (bmm), same MACs.
    cpu = record(lambda: F.scaled_dot_product_attention(*args, **kwargs))
    if v[-1] == q[-1]:
        assert cpu.ops == ["aten._scaled_dot_product_flash_attention_for_cpu.default"]
    assert cpu.macs == expected
    # On meta SDPA decomposes to bmm, which FlopCounterMode counts.
    meta = tuple(a.to("meta") for a in args)
    assert reference_flops(lambda: F.scaled_dot_product_attention(*meta, **kwargs)) == 2 * expected


def test_sdpa_flops_other_is_softmax_on_scores() -> None:
    q = r(2, 4, 8, 16)
    # 5 per score: 2*4 heads * 8 * 8 scores = 512
    assert formulas.evaluate("flops_other", aten.scaled_dot_product_attention.default, (q, q, q), {}, None) == 5 * 512


def _lstm_args(lstm: nn.LSTM, x: torch.Tensor) -> tuple[Any, ...]:
    h = torch.zeros(lstm.num_layers, x.shape[0], lstm.hidden_size)
    return (x, [h, h], lstm._flat_weights, True, lstm.num_layers, 0.0, False, False, True)


def test_lstm_macs_function_level_and_reference() -> None:
    lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
    x = r(2, 5, 8)
    # rows 2*5 = 10; layer 1: w_ih 64x8 + w_hh 64x16 = 1536; layer 2: 64x16 + 64x16 = 2048
    # 10 * (1536 + 2048) = 35840
    assert formulas.evaluate("macs", aten.lstm.input, _lstm_args(lstm, x), {}, None) == 35_840
    # flops_other: 10 rows * 2 layers * (13*16 cell + 2*64 biases) = 6720
    assert formulas.evaluate("flops_other", aten.lstm.input, _lstm_args(lstm, x), {}, None) == 6_720
    # On CPU the LSTM runs as mkldnn_rnn_layer (FlopCounterMode misses it; we do not).
    assert record(lambda: lstm(x)).macs == 35_840
    # On meta it decomposes to addmm per step, which FlopCounterMode counts.
    meta_lstm, meta_x = lstm.to("meta"), x.to("meta")
    assert reference_flops(lambda: meta_lstm(meta_x)) == 2 * 35_840


def test_fused_mha_and_encoder_layer_fast_paths() -> None:
    # The fused inference kernels run under no_grad without a torch-function mode.
    x = r(2, 4, 16)
    mha = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    rec = record(lambda: mha(x, x, x, need_weights=False))
    assert rec.ops == ["aten._native_multi_head_attention.default"]
    # in-proj 8 rows * 16 * 48 = 6144; attention 2 * 4*4 * 16 * 2 = 1024; out-proj 8 * 16 * 16 = 2048
    assert rec.macs == 9_216
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True).eval()
    rec = record(lambda: layer(x))
    assert rec.ops == ["aten._transformer_encoder_layer_fwd.default"]
    # attention 9216 + FFN 8 rows * (16*32 + 32*16) = 8192
    assert rec.macs == 17_408


@pytest.mark.parametrize(
    ("a", "b", "offs", "expected"),
    [
        ((6, 8), (2, 8, 16), [2, 6], 6 * 8 * 16),  # rows * K * N = 768
        ((2, 4, 8), (2, 8, 16), None, 2 * 4 * 8 * 16),  # batched: 1024
        ((4, 32), (32, 8), [16, 32], 4 * 32 * 8),  # K split in groups: M * total_K * N = 1024
    ],
)
def test_grouped_mm(a: tuple[int, ...], b: tuple[int, ...], offs: list[int] | None, expected: int) -> None:
    bf16 = torch.bfloat16
    offsets = None if offs is None else torch.tensor(offs, dtype=torch.int32)
    rec = record(lambda: torch._grouped_mm(torch.randn(*a, dtype=bf16), torch.randn(*b, dtype=bf16), offs=offsets))
    assert rec.macs == expected


def test_embedding_bag_weighted_is_macs_unweighted_is_adds() -> None:
    bag = nn.EmbeddingBag(10, 4, mode="sum")
    idx, offsets = torch.tensor([1, 2, 3, 4]), torch.tensor([0, 2])
    weighted = record(lambda: bag(idx, offsets, per_sample_weights=torch.rand(4)))
    assert (weighted.macs, weighted.other) == (4 * 4, 0)  # 4 looked-up rows of 4
    plain = record(lambda: bag(idx, offsets))
    assert (plain.macs, plain.other) == (0, 4 * 4)


FLOPS_OTHER_CASES: list[tuple[str, Callable[[], Any], int]] = [
    ("gelu", lambda: F.gelu(r(2, 4)), 8),  # 1 per output element
    ("add broadcast", lambda: r(2, 4) + r(4), 8),
    ("softmax", lambda: torch.softmax(r(3, 4), -1), 5 * 12),
    ("layer_norm", lambda: nn.LayerNorm(4)(r(2, 3, 4)), 5 * 24),
    ("batch_norm eval", lambda: nn.BatchNorm2d(4).eval()(r(2, 4, 3, 3)), 2 * 72),
    ("max_pool2d", lambda: nn.MaxPool2d(2)(r(2, 4, 4, 4)), 32 * 4),  # 32 outputs * 2x2 window
    ("avg_pool2d", lambda: nn.AvgPool2d(2)(r(2, 4, 4, 4)), 32 * 4),
    ("adaptive avg pool", lambda: nn.AdaptiveAvgPool2d(1)(r(2, 4, 4, 4)), 128),  # 1 per input
    ("sum", lambda: r(3, 4).sum(), 12),
    ("bilinear upsample", lambda: F.interpolate(r(1, 2, 4, 4), scale_factor=2, mode="bilinear"), 4 * 128),
    ("linear bias", lambda: nn.Linear(4, 5)(r(3, 4)), 15),  # addmm: 1 per output element
]


@pytest.mark.parametrize(("name", "fn", "expected"), FLOPS_OTHER_CASES, ids=[c[0] for c in FLOPS_OTHER_CASES])
def test_flops_other_conventions(name: str, fn: Callable[[], Any], expected: int) -> None:
    assert record(fn).other == expected


def test_registry_refuses_duplicates_and_non_ops() -> None:
    with pytest.raises(ValueError, match=r"duplicate macs formula for aten\.mm"):
        formulas.formula(aten.mm)(lambda *a, **k: 0)
    with pytest.raises(TypeError, match="aten op"):
        formulas.formula("aten.mm")(lambda *a, **k: 0)  # type: ignore[arg-type]


def test_every_op_is_counted_free_or_uncounted() -> None:
    assert not formulas.counted_ops() & formulas.FREE
    assert formulas.classify(aten.mm.default) == "counted"
    assert formulas.classify(aten.cumsum.default) == "counted"
    assert formulas.classify(aten.clone.default) == "free"
    # A view by schema is free even when it is not on the list.
    assert formulas.is_view(aten.diagonal.default) and formulas.classify(aten.diagonal.default) == "free"
    assert formulas.is_view(aten._unsafe_view.default)  # not an alias in its schema: listed
    assert not formulas.is_view(aten.add_.Tensor)  # writes its input: not a view
    assert formulas.classify(aten.searchsorted.Tensor) == "uncounted"
