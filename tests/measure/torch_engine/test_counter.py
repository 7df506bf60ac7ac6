"""The counting engine on small models: hand-derived totals, per-module
attribution, bytes, peak memory, and independence from device and autograd mode."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.flop_counter import FlopCounterMode

from pytest_flopguard.measure.torch_engine.counter import count_forward
from pytest_flopguard.measure.torch_engine.execute import count_model
from pytest_flopguard.measure.types import Measurement, ModuleStats
from tests.helpers import models_zoo as zoo

Factory = Callable[[], nn.Module]
MakeInputs = Callable[[], tuple[Any, ...]]


def build(factory: Factory, make_inputs: MakeInputs, device: str) -> tuple[nn.Module, tuple[Any, ...]]:
    with torch.device(device):
        torch.manual_seed(0)
        return factory(), make_inputs()


def count_on(factory: Factory, make_inputs: MakeInputs, device: str = "cpu") -> Measurement:
    model, args = build(factory, make_inputs, device)
    return count_forward(model, args, {})


def modules_of(m: Measurement) -> dict[str, ModuleStats]:
    return {s.path: s for s in m.modules}


def without_execution(m: Measurement) -> Measurement:
    return dataclasses.replace(m, execution="")


MODELS: dict[str, tuple[Factory, MakeInputs]] = {
    "resnet": (zoo.TinyResNet, lambda: (torch.randn(1, 3, 16, 16),)),
    "vit": (zoo.TinyViT, lambda: (torch.randn(1, 3, 8, 8),)),
    "gpt": (zoo.TinyGPT, lambda: (torch.randint(0, 32, (1, 8)),)),
    "lstm": (zoo.TinyLSTM, lambda: (torch.randn(2, 5, 8),)),
    "shared": (zoo.SharedTwice, lambda: (torch.randn(1, 8),)),
}

# Hand-derived totals.
EXPECTED = {
    # stem conv 8x8 out * 8*3*3*3 = 13824; bottleneck on 8x8: 1x1 8->4 (64*32 = 2048),
    # 3x3 4->4 (64*144 = 9216), 1x1 4->16 (64*64 = 4096), shortcut 1x1 8->16 (64*128 = 8192);
    # fc 16*10 = 160. 13824 + 23552 + 160 = 37536
    # params: convs 216+32+144+64+128, bns 16+8+8+32+32, fc 170 = 850
    "resnet": (37_536, 850),
    # patch conv 4 patches * 16*3*4*4 = 3072; each block: MHA in-proj 4*16*48 = 3072,
    # attention 4*4*16*2 = 512, out-proj 4*16*16 = 1024, MLP 2 * 4*16*32 = 4096 -> 8704;
    # head 160. 3072 + 2*8704 + 160 = 20640
    # params: patch 784, pos 64, two blocks 2224 each, norm 32, head 170 = 5498
    "vit": (20_640, 5_498),
    # T=8, d=16: qkv 8*16*48 = 6144; attention 2 heads * 8*8 * (8+8) = 2048; proj 8*16*16 = 2048;
    # MLP 2 * 8*16*64 = 16384; lm head 8*16*32 = 4096. Total 30720
    # params: tok 512 (lm head tied: not again), pos 128, ln 3*32, qkv 816, proj 272,
    # fc1 1088, fc2 1040 = 3952
    "gpt": (30_720, 3_952),
    # LSTM rows 10 * (layer 1: 64*8 + 64*16, layer 2: 64*16 + 64*16) = 10 * 3584 = 35840;
    # head on the last step: 2 * 16*4 = 128. Total 35968
    # params: layer 1 (512+1024+128), layer 2 (1024+1024+128), head 68 = 3908
    "lstm": (35_968, 3_908),
    # shared Linear(8,8) twice: 2*64; recursive Linear(8,8) twice: 2*64. params 72 + 64 = 136
    "shared": (256, 136),
}


@pytest.mark.parametrize("name", MODELS)
def test_hand_derived_totals(name: str) -> None:
    m = count_on(*MODELS[name])
    macs, params = EXPECTED[name]
    assert (m.macs, m.flops, m.params) == (macs, 2 * macs, params)
    assert m.uncounted_ops == {}
    assert m.execution == "real"


@pytest.mark.parametrize("name", MODELS)
def test_meta_and_cpu_give_identical_measurements(name: str) -> None:
    real = count_on(*MODELS[name], device="cpu")
    meta = count_on(*MODELS[name], device="meta")
    assert meta.execution == "meta"
    assert without_execution(meta) == without_execution(real)  # every figure, op and module


@pytest.mark.parametrize("name", ["vit", "gpt", "lstm"])
@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode, torch.enable_grad])
def test_caller_autograd_mode_does_not_change_counts(name: str, mode: Callable[[], Any]) -> None:
    model, args = build(*MODELS[name], device="cpu")
    baseline = count_forward(model, args, {})
    with mode():
        assert count_forward(model, args, {}) == baseline


def test_matches_flop_counter_mode_where_it_sees_every_op() -> None:
    # On meta, FlopCounterMode sees attention as bmm and the LSTM as addmm steps.
    for name in ("resnet", "gpt", "lstm"):
        model, args = build(*MODELS[name], device="meta")
        with torch.no_grad(), FlopCounterMode(display=False) as reference:
            model.eval()(*args)
        assert count_forward(model, args, {}).flops == reference.get_total_flops(), name


def test_modules_inclusive_root_equals_totals() -> None:
    m = count_on(*MODELS["resnet"])
    mods = modules_of(m)
    root = mods[""]
    assert (root.type, root.calls, root.params) == ("TinyResNet", 1, m.params)
    assert (root.macs, root.flops, root.flops_other, root.memory_access) == (
        m.macs,
        m.flops,
        m.flops_other,
        m.memory_access,
    )
    assert mods["layer1.0.conv2"].macs == 9_216  # 8*8 * 4*4*3*3
    assert mods["layer1.0.downsample.0"].macs == 8_192  # 8*8 * 16*8
    assert mods["layer1.0"].macs == 23_552  # 2048 + 9216 + 4096 + 8192
    assert mods["layer1.0"].params == 32 + 8 + 144 + 8 + 64 + 32 + 128 + 32  # 448


def test_module_called_twice_and_module_recursing() -> None:
    mods = modules_of(count_on(*MODELS["shared"]))
    assert (mods["shared"].calls, mods["shared"].macs, mods["shared"].params) == (2, 2 * 64, 72)
    # `rec` calls itself: it is on the stack twice, each op is attributed once.
    assert (mods["rec"].calls, mods["rec"].macs) == (2, 2 * 64)
    assert (mods["rec.lin"].calls, mods["rec.lin"].macs) == (2, 2 * 64)
    assert mods[""].macs == 256


def test_tied_weights_counted_once_per_module_and_model() -> None:
    m = count_on(*MODELS["gpt"])
    mods = modules_of(m)
    assert mods["lm_head"].params == 32 * 16 == mods["tok"].params
    assert m.params == 3_952  # the tied matrix once


def test_attention_is_one_op_on_every_device() -> None:
    for device in ("cpu", "meta"):
        m = count_on(*MODELS["gpt"], device=device)
        sdpa = m.ops["aten.scaled_dot_product_attention.default"]
        # 2 heads * 8 * 8 scores * (8 + 8); softmax 5 * 128; q, k, v read + out written: 4 * 128 floats
        assert (sdpa.calls, sdpa.macs, sdpa.flops_other, sdpa.memory_access) == (1, 2_048, 640, 4 * 128 * 4)
        assert not {"aten.bmm.default", "aten._safe_softmax.default"} & set(m.ops), device
    vit = count_on(*MODELS["vit"], device="meta")
    assert vit.ops["aten.scaled_dot_product_attention.default"].calls == 2  # inside both nn.MultiheadAttention


def test_lstm_is_one_op() -> None:
    m = count_on(*MODELS["lstm"], device="meta")
    lstm = m.ops["aten.lstm.input"]
    # 10 rows * 2 layers * (13*16 cell + 2*64 biases) = 6720
    assert (lstm.calls, lstm.macs, lstm.flops_other) == (1, 35_840, 6_720)


def test_packed_lstm_counts_only_real_steps() -> None:
    class Packed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(8, 16, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            packed = pack_padded_sequence(x, torch.tensor([5, 3]), batch_first=True)
            return self.lstm(packed)[0].data

    m = count_forward(Packed(), (torch.randn(2, 5, 8),), {})
    # 5 + 3 = 8 rows * (64*8 + 64*16) = 12288
    assert m.ops["aten.lstm.data"].macs == 12_288
    assert m.macs == 12_288


def test_linear_memory_access_by_hand() -> None:
    m = count_forward(nn.Linear(512, 1000), (torch.randn(1, 512),), {})
    # x 512*4 + W 512000*4 + b 1000*4 read, out 1000*4 written = 2,058,048 bytes
    assert m.memory_access == 2_048 + 2_048_000 + 4_000 + 4_000
    assert (m.macs, m.flops, m.flops_other, m.params) == (512_000, 1_024_000, 1_000, 513_000)
    # Live at the addmm: x, W, b and the output, nothing else.
    assert m.peak_memory == 2_058_048
    assert m.ops["aten.t.default"].memory_access == 0  # W.t() is a view


def test_pure_view_costs_nothing() -> None:
    m = count_forward(zoo.ViewOnly(), (torch.randn(4, 4),), {})
    assert (m.macs, m.flops_other, m.memory_access) == (0, 0, 0)
    assert m.uncounted_ops == {}
    assert m.peak_memory == 16 * 4  # only the input's storage


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_peak_memory_frees_dead_intermediates(device: str) -> None:
    x = torch.randn(1000, device=device)
    m = count_forward(zoo.ThreeRelus(), (x,), {})
    # At each relu: x + its input + its output are live (the one before is gone): 3 * 4000
    assert m.peak_memory == 12_000
    assert m.memory_access == 3 * (4_000 + 4_000)


@torch.library.custom_op("flopguard_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@mystery.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class UsesMystery(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mystery(x) * 2


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_uncounted_ops_are_reported_by_name(device: str) -> None:
    m = count_forward(UsesMystery(), (torch.randn(3, device=device),), {})
    assert m.uncounted_ops == {"flopguard_test.mystery.default": 1}
    assert m.ops["flopguard_test.mystery.default"].calls == 1


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_profiler_markers_are_free(device: str) -> None:
    # record_function (user code, nn.DataParallel) emits profiler._record_function_* ops: no arithmetic.
    class Marked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 3, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.profiler.record_function("block"):
                out: torch.Tensor = self.lin(x)
            return out

    m = count_forward(Marked().to(device), (torch.randn(2, 4, device=device),))
    assert any(op.startswith("profiler._record_function") for op in m.ops)
    assert (m.uncounted_ops, m.macs) == ({}, 2 * 4 * 3)


def test_input_derived_value_runs_hybrid() -> None:
    """`.item()` on an input-derived value works without real weights."""

    def make_inputs(device: torch.device, model: nn.Module) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (torch.randn(1, 4, device=device),), {}

    m = count_model(zoo.NeedsValue, make_inputs)
    assert (m.execution, m.notes) == ("hybrid", ())
    assert m.macs == 16  # Linear(4, 4) on one row


def test_weight_derived_value_falls_back_to_a_real_run() -> None:
    def make_inputs(device: torch.device, model: nn.Module) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (torch.randn(1, 4, device=device),), {}

    m = count_model(zoo.NeedsWeightValue, make_inputs)
    assert m.execution == "real"
    assert m.macs == 16  # Linear(4, 4) on one row
    assert len(m.notes) == 1
    assert m.notes[0].startswith(
        "hybrid execution failed (WeightValueNeeded: the model reads a value computed from its weights "
        "(aten._local_scalar_dense) at "
    )
    assert "models_zoo.py:" in m.notes[0]
    assert m.notes[0].endswith("; counted a real CPU run with random weights (seed 0)")
    assert m.data_dependent is not None and m.data_dependent.startswith("aten._local_scalar_dense at ")
    assert "models_zoo.py:" in m.data_dependent


def test_hybrid_gives_the_cpu_counts() -> None:
    def make_inputs(device: torch.device, model: nn.Module) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (torch.randint(0, model.tok.num_embeddings, (1, 8), device=device),), {}

    m = count_model(zoo.TinyGPT, make_inputs)
    assert (m.execution, m.notes) == ("hybrid", ())
    assert without_execution(m) == without_execution(count_on(*MODELS["gpt"]))


def test_counting_leaves_the_model_and_torch_as_they_were() -> None:
    model, args = build(*MODELS["vit"], device="cpu")
    model.train()
    count_forward(model, args, {})
    assert all(m.training for m in model.modules())
    assert torch.backends.mha.get_fastpath_enabled()
    assert not model._forward_hooks and not model._forward_pre_hooks


class LinearOnTransposed(nn.Module):
    """matmul folds into mm or expands the weight for bmm, depending on requires_grad."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.transpose(0, 1))


def test_memory_access_does_not_depend_on_requires_grad() -> None:
    counts = []
    for requires_grad in (True, False):
        torch.manual_seed(0)
        model = LinearOnTransposed().requires_grad_(requires_grad)
        counts.append(count_forward(model, (torch.randn(4, 3, 6),), {}))
    assert counts[0].macs == counts[1].macs == 3 * 4 * 6 * 5  # 360
    assert counts[0] == counts[1]


def test_broadcast_operand_is_read_once() -> None:
    # x [2, 3, 4] @ w expanded to [2, 4, 5] (stride 0 on the batch): w's 20 floats are read once.
    w = torch.randn(4, 5)
    x = torch.randn(2, 3, 4)

    class Bmm(nn.Module):
        def forward(self, a: torch.Tensor) -> torch.Tensor:
            return torch.bmm(a, w.expand(2, 4, 5))

    bmm = count_forward(Bmm(), (x,), {}).ops["aten.bmm.default"]
    assert bmm.memory_access == (24 + 20 + 30) * 4  # x 2*3*4, w 4*5 once, out 2*3*5; float32
