"""ONNX models counted from the graph: hand-derived counts on tiny graphs, the
torch engine against both PyTorch exporters, module paths, and loading files
that are broken or hostile."""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from pytest_flopguard.errors import FlopguardError  # noqa: E402
from pytest_flopguard.measure.onnx_engine import formulas as onnx_formulas  # noqa: E402
from pytest_flopguard.measure.onnx_engine import inference as onnx_inference  # noqa: E402
from pytest_flopguard.measure.onnx_engine import loader as onnx_loader  # noqa: E402
from pytest_flopguard.measure.onnx_engine.counter import count_onnx  # noqa: E402
from pytest_flopguard.measure.onnx_engine.loader import OnnxSource  # noqa: E402
from pytest_flopguard.measure.torch_engine.counter import count_forward  # noqa: E402
from pytest_flopguard.measure.types import Measurement  # noqa: E402
from tests.conftest import run_cli  # noqa: E402
from tests.helpers import onnx_models  # noqa: E402

FLOAT = TensorProto.FLOAT


# --- tiny graphs built by hand ----------------------------------------------------------


def tensor(name: str, shape: Sequence[int], values: Any = None, dtype: Any = np.float32) -> TensorProto:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    array = np.asarray(values, dtype=dtype) if values is not None else rng.standard_normal(shape).astype(dtype)
    return numpy_helper.from_array(array.reshape(shape), name)


def value(name: str, shape: Sequence[int | str], elem: int = FLOAT) -> Any:
    return helper.make_tensor_value_info(name, elem, shape)


def save(
    path: Path,
    nodes: list[Any],
    inputs: list[Any],
    outputs: list[Any],
    initializers: Sequence[TensorProto] = (),
    *,
    opset: int = 20,
    extra_opsets: Sequence[tuple[str, int]] = (),
    value_info: Sequence[Any] = (),
    producer: str = "flopguard-tests",
) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers), value_info=list(value_info))
    opsets = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, v) for d, v in extra_opsets)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name=producer)
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


def conv_graph(path: Path) -> Path:
    """x [1, 8, 10, 10] -> Conv(W [16, 2, 3, 3], groups=4, pad 1) + bias -> y [1, 16, 10, 10]."""
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], group=4, pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    inits = [tensor("w", [16, 2, 3, 3]), tensor("b", [16])]
    return save(path, [node], [value("x", [1, 8, 10, 10])], [value("y", [1, 16, 10, 10])], inits)


def test_grouped_conv_by_hand(tmp_path: Path) -> None:
    m = count_onnx(conv_graph(tmp_path / "conv.onnx"), [(1, 8, 10, 10)])
    # out 10*10 points * filter bank of its group 16 * 8/4 * 3*3 = 100 * 288
    assert m.macs == 28_800 and m.flops == 57_600
    assert m.flops_other == 1_600  # bias: 1 per output element, 16*10*10
    assert m.params == 304  # 16*2*3*3 + 16
    # x 8*100*4 B + w 288*4 + b 16*4 + y 16*100*4 = 3200 + 1152 + 64 + 6400
    assert m.memory_access == 10_816
    assert m.peak_memory == 10_816  # weights 1216 + x 3200 + y 6400, all live after the conv
    assert m.execution == "onnx-static" and dict(m.uncounted_ops) == {}
    assert m.ops["onnx.Conv"].calls == 1 and m.ops["onnx.Conv"].macs == 28_800


def test_batch_is_taken_from_the_budget_for_dynamic_dims(tmp_path: Path) -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=4, pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    path = save(
        tmp_path / "c.onnx",
        [node],
        [value("x", ["N", 8, "H", "W"])],
        [value("y", ["N", 16, "H", "W"])],
        [tensor("w", [16, 2, 3, 3])],
    )
    # batch 3 at 20x20: 3 * 400 * 288
    assert count_onnx(path, {"x": (3, 8, 20, 20)}).macs == 345_600


def test_transposed_grouped_conv_by_hand(tmp_path: Path) -> None:
    # x [1, 4, 5, 5], W [4, 3, 2, 2] = [c_in, c_out/groups, k, k], groups 2, stride 2 -> [1, 6, 10, 10]
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], group=2, strides=[2, 2], kernel_shape=[2, 2])
    path = save(
        tmp_path / "ct.onnx",
        [node],
        [value("x", [1, 4, 5, 5])],
        [value("y", [1, 6, 10, 10])],
        [tensor("w", [4, 3, 2, 2])],
    )
    # every input point meets prod(W): 5*5 * 4*3*2*2 = 25 * 48
    assert count_onnx(path).macs == 1_200


def test_gemm_by_hand(tmp_path: Path) -> None:
    node = helper.make_node("Gemm", ["a", "w", "c"], ["y"], transB=1)
    inits = [tensor("w", [16, 32]), tensor("c", [16])]
    path = save(tmp_path / "gemm.onnx", [node], [value("a", [4, 32])], [value("y", [4, 16])], inits)
    m = count_onnx(path)
    assert m.macs == 2_048  # M*K*N = 4*32*16
    assert m.flops_other == 64  # bias, 4*16
    assert m.params == 528  # 16*32 + 16


def test_batched_broadcast_matmul_by_hand(tmp_path: Path) -> None:
    # a [2, 1, 5, 7] @ b [3, 7, 11] -> [2, 3, 5, 11]: 330 outputs, each a 7-long dot product
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    path = save(
        tmp_path / "mm.onnx", [node], [value("a", [2, 1, 5, 7]), value("b", [3, 7, 11])], [value("y", [2, 3, 5, 11])]
    )
    m = count_onnx(path, [(2, 1, 5, 7), (3, 7, 11)])
    assert m.macs == 2_310  # 2*3*5*11 * 7
    assert m.params == 0  # both operands are inputs


@pytest.mark.parametrize(
    ("equation", "shapes", "macs", "other"),
    [
        ("bhqd,bhkd->bhqk", [(2, 4, 8, 16), (2, 4, 8, 16)], 8_192, 0),  # 2*4*8*8 scores * 16
        ("...ij,jk->...ik", [(2, 3, 4, 5), (5, 6)], 720, 0),  # 2*3*4*6 outputs * 5
        ("ij,jk", [(3, 4), (4, 5)], 60, 0),  # implicit output ik: 3*5 * 4
        ("bij,bjk->bk", [(2, 3, 4), (2, 4, 5)], 40, 24),  # i summed first (2*3*4), then 2*4*5
        ("ij,ij->ij", [(3, 5), (3, 5)], 0, 15),  # no contraction: a product, 1 per output
        ("bij->bji", [(2, 3, 4)], 0, 0),  # a permutation: free
        ("bij->b", [(2, 3, 4)], 0, 24),  # a reduction: 1 per input element
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], 0, 0),  # three operands: uncounted (order unknown)
    ],
)
def test_einsum_by_hand(tmp_path: Path, equation: str, shapes: list[tuple[int, ...]], macs: int, other: int) -> None:
    names = [f"x{i}" for i in range(len(shapes))]
    rank = np.einsum(equation, *(np.zeros(shape) for shape in shapes)).ndim
    node = helper.make_node("Einsum", names, ["y"], equation=equation)
    path = save(
        tmp_path / "e.onnx",
        [node],
        [value(n, s) for n, s in zip(names, shapes, strict=True)],
        [value("y", ["?"] * rank)],
    )
    m = count_onnx(path)
    assert (m.macs, m.flops_other) == (macs, other)
    assert dict(m.uncounted_ops) == ({"onnx.Einsum": 1} if len(shapes) == 3 else {}) and m.notes == ()


def test_lstm_by_hand(tmp_path: Path) -> None:
    # X [T=5, B=2, I=8], hidden 16: W [1, 64, 8], R [1, 64, 16], B [1, 128]
    node = helper.make_node("LSTM", ["x", "w", "r", "b"], ["y"], hidden_size=16)
    inits = [tensor("w", [1, 64, 8]), tensor("r", [1, 64, 16]), tensor("b", [1, 128])]
    path = save(tmp_path / "lstm.onnx", [node], [value("x", [5, 2, 8])], [value("y", [5, 1, 2, 16])], inits)
    m = count_onnx(path)
    assert m.macs == 15_360  # 10 rows * (64*8 + 64*16)
    assert m.flops_other == 3_360  # 10 rows * (13*16 cell + 2*4*16 biases)
    assert m.params == 1_664  # 512 + 1024 + 128


def test_opset23_attention_by_hand(tmp_path: Path) -> None:
    # GQA: 4 query heads, 2 key/value heads; Lq 8, Lk 10, head size 16
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"])
    inputs = [value("q", [2, 4, 8, 16]), value("k", [2, 2, 10, 16]), value("v", [2, 2, 10, 16])]
    path = save(tmp_path / "attn.onnx", [node], inputs, [value("y", [2, 4, 8, 16])], opset=23)
    m = count_onnx(path)
    assert m.macs == 20_480  # 2*4*8*10 = 640 scores * (16 + 16)
    assert m.flops_other == 3_200  # softmax, 5 per score


def test_microsoft_attention_by_hand(tmp_path: Path) -> None:
    node = helper.make_node("Attention", ["x", "w", "b"], ["y"], domain="com.microsoft", num_heads=4)
    inits = [tensor("w", [32, 96]), tensor("b", [96])]
    path = save(
        tmp_path / "msattn.onnx",
        [node],
        [value("x", [1, 6, 32])],
        [value("y", [1, 6, 32])],
        inits,
        extra_opsets=[("com.microsoft", 1)],
    )
    m = count_onnx(path)
    # QKV projection 6*32*96 = 18432; attention 4 heads * 6*6 scores * (8 + 8) = 2304
    assert m.macs == 20_736
    assert m.flops_other == 1_296  # bias 6*96 = 576, softmax 5 * 144 = 720
    assert m.ops["com.microsoft.Attention"].macs == 20_736


def test_unknown_op_and_shapes_it_hides_are_listed_as_uncounted(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Mystery", ["x"], ["h"], domain="mylib"),
        helper.make_node("Relu", ["h"], ["y"]),
        helper.make_node("Relu", ["x"], ["z"]),
    ]
    path = save(
        tmp_path / "u.onnx",
        nodes,
        [value("x", [2, 3])],
        [value("y", ["?", "?"]), value("z", [2, 3])],
        extra_opsets=[("mylib", 1)],
    )
    m = count_onnx(path)
    assert dict(m.uncounted_ops) == {"mylib.Mystery": 1, "onnx.Relu": 1}
    assert m.flops_other == 6  # the second Relu, whose shape is known
    assert m.notes == (
        "shape inference could not determine the shapes of 1 node(s) (onnx.Relu x1); their work is listed as uncounted",
    )
    assert m.peak_memory is None


def test_counted_work_with_unknown_output_sizes_is_noted(tmp_path: Path) -> None:
    # A contrib op whose output shape inference cannot give: MACs come from the inputs.
    node = helper.make_node("Attention", ["x", "w"], ["y"], domain="com.microsoft", num_heads=4)
    path = save(
        tmp_path / "a.onnx",
        [node],
        [value("x", [1, 6, 32])],
        [value("y", ["?", "?", "?"])],
        [tensor("w", [32, 96])],
        extra_opsets=[("com.microsoft", 1)],
    )
    m = count_onnx(path)
    assert m.macs == 20_736 and dict(m.uncounted_ops) == {}
    assert m.notes == (
        "memory_access leaves out 1 node(s) whose tensor sizes shape inference could not determine "
        "(com.microsoft.Attention x1)",
    )


def test_free_ops_are_free_and_views_move_no_bytes(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0]),
        helper.make_node("Concat", ["t", "t"], ["y"], axis=0),
    ]
    inits = [tensor("shape", [2], [4, 6], dtype=np.int64)]
    path = save(tmp_path / "free.onnx", nodes, [value("x", [2, 12])], [value("y", [12, 4])], inits)
    m = count_onnx(path)
    assert (m.macs, m.flops_other, m.params, dict(m.uncounted_ops)) == (0, 0, 0, {})
    assert m.ops["onnx.Reshape"].memory_access == 0 and m.ops["onnx.Transpose"].memory_access == 0
    assert m.memory_access == 384  # Concat reads 2 * 24 floats, writes 48: (48 + 48) * 4


def test_parameter_rule(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c1"]),
        helper.make_node("BatchNormalization", ["c1", "scale", "shift", "mean", "var"], ["bn"]),
        helper.make_node("Identity", ["w"], ["w_again"]),  # the same tensor, read a second time
        helper.make_node("Conv", ["bn", "w_again"], ["c2"]),
        helper.make_node("Add", ["c2", "mask"], ["masked"]),
        helper.make_node("Reshape", ["masked", "shape"], ["flat"]),
        helper.make_node("Mul", ["flat", "half"], ["scaled"]),
        helper.make_node("Concat", ["scaled", "zeros"], ["padded"], axis=1),
        helper.make_node("Add", ["padded", "pos"], ["biased"]),
        helper.make_node("Add", ["biased", "zero_bias"], ["y"]),
    ]
    mask = np.triu(np.full((4, 4), -np.inf, dtype=np.float32), 1).reshape(1, 4, 2, 2)
    inits = [
        tensor("w", [4, 4, 1, 1]),  # 16, read twice: counted once
        tensor("scale", [4]),  # 4
        tensor("shift", [4]),  # 4
        tensor("mean", [4]),  # running statistics: buffers, not parameters
        tensor("var", [4], np.ones(4)),
        tensor("mask", [1, 4, 2, 2], mask),  # holds -inf: a mask
        tensor("shape", [2], [1, 16], dtype=np.int64),  # a shape
        tensor("half", [], 0.5),  # a scalar
        tensor("zeros", [1, 16], np.zeros(16)),  # zeros only moved about (Concat): padding
        tensor("pos", [1, 32]),  # 32
        tensor("zero_bias", [32], np.zeros(32)),  # zeros in arithmetic: an (untrained) bias, 32
    ]
    path = save(tmp_path / "p.onnx", nodes, [value("x", [1, 4, 2, 2])], [value("y", [1, 32])], inits)
    m = count_onnx(path)
    assert m.params == 88  # 16 + 4 + 4 + 32 + 32
    assert m.macs == 128  # two 1x1 convs: 2 * (2*2 points * 4*4)


def test_big_weights_are_not_sent_to_shape_inference(tmp_path: Path) -> None:
    # w is 128*256*4 = 128 KiB, over the 64 KiB the child keeps inline
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    path = save(
        tmp_path / "big.onnx", [node], [value("x", [2, 128])], [value("y", [2, 256])], [tensor("w", [128, 256])]
    )
    m = count_onnx(path)
    assert (m.macs, m.params) == (65_536, 32_768)  # 2*256 outputs * 128; 128*256


def test_local_functions_are_inlined(tmp_path: Path) -> None:
    body = [helper.make_node("MatMul", ["a", "b"], ["ab"]), helper.make_node("Relu", ["ab"], ["out"])]
    function = helper.make_function("local", "LinearRelu", ["a", "b"], ["out"], body, [helper.make_opsetid("", 20)])
    node = helper.make_node("LinearRelu", ["x", "w"], ["y"], domain="local")
    graph = helper.make_graph([node], "g", [value("x", [3, 4])], [value("y", [3, 5])], [tensor("w", [4, 5])])
    opsets = [helper.make_opsetid("", 20), helper.make_opsetid("local", 1)]
    model = helper.make_model(graph, opset_imports=opsets, functions=[function])
    onnx.save(model, str(tmp_path / "f.onnx"))
    m = count_onnx(tmp_path / "f.onnx")
    assert (m.macs, m.flops_other, m.params) == (60, 15, 20)  # 3*5 * 4; relu 3*5; w 4*5
    assert dict(m.uncounted_ops) == {}


def test_module_paths_from_torchscript_names(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Gemm", ["x", "shared.weight"], ["a"], name="/shared/Gemm", transB=1),
        helper.make_node("Relu", ["a"], ["b"], name="/Relu"),
        helper.make_node("Gemm", ["b", "shared.weight"], ["c"], name="/shared_1/Gemm", transB=1),
        helper.make_node("Gemm", ["c", "blocks.0.fc.weight"], ["y"], name="/blocks/blocks.0/fc/Gemm", transB=1),
    ]
    inits = [tensor("shared.weight", [4, 4]), tensor("blocks.0.fc.weight", [4, 4])]
    path = save(tmp_path / "ts.onnx", nodes, [value("x", [1, 4])], [value("y", [1, 4])], inits, producer="pytorch")
    m = count_onnx(path)
    table = {s.path: (s.calls, s.params, s.macs) for s in m.modules}
    assert table == {
        "": (1, 32, 48),
        "shared": (2, 16, 32),  # called twice: /shared and /shared_1
        "blocks": (1, 16, 16),
        "blocks.0": (1, 16, 16),
        "blocks.0.fc": (1, 16, 16),
    }


def test_module_paths_and_types_from_dynamo_metadata(tmp_path: Path) -> None:
    node = helper.make_node("Gemm", ["x", "enc.fc.weight"], ["y"], name="node_linear", transB=1)
    helper.set_metadata_props(
        node,
        {
            "pkg.torch.onnx.name_scopes": "['', 'enc', 'enc.fc', 'linear']",
            "pkg.torch.onnx.class_hierarchy": "['app.Model', 'app.Enc', 'torch.nn.modules.linear.Linear', 'aten.linear.default']",
        },
    )
    path = save(
        tmp_path / "d.onnx", [node], [value("x", [1, 4])], [value("y", [1, 4])], [tensor("enc.fc.weight", [4, 4])]
    )
    m = count_onnx(path)
    assert [(s.path, s.type, s.macs) for s in m.modules] == [
        ("", "Model", 16),
        ("enc", "Enc", 16),
        ("enc.fc", "Linear", 16),
    ]


def test_formula_registry_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicate formula for onnx::Conv"):
        onnx_formulas.formula("Conv")(lambda n: (0, 0))
    assert "::Conv" in onnx_formulas.counted_ops() and "com.microsoft::Attention" in onnx_formulas.counted_ops()
    assert not onnx_formulas.FREE & {op.removeprefix("::") for op in onnx_formulas.counted_ops()}


# --- cross-check: the torch engine against both exporters ---------------------------------

EXPORTERS = {"torchscript": False, "dynamo": True}

# Parameters the exporters drop or add, per (model, exporter). Both fold an
# eval-mode BatchNorm into the convolution before it: its weight and bias (2C)
# go, and a convolution without a bias gains one (C). The CNN has BN after
# stem (C=16), dw (16) and pw (32), all bias-free: -128 + 64 = -64. The
# dynamo exporter also folds bn4 into the transposed conv up, which already has
# a bias: another -32. BatchNorm's running mean and variance are buffers in
# PyTorch and are not parameters on either side.
PARAMS_FOLDED = {("cnn", "torchscript"): -64, ("cnn", "dynamo"): -96}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Each test model exported by each exporter once: path, or the reason it failed."""
    folder = tmp_path_factory.mktemp("exported")
    out: dict[tuple[str, str], Any] = {}
    for name in onnx_models.MODELS:
        model, args = onnx_models.build(name)
        for exporter, dynamo in EXPORTERS.items():
            try:
                out[(name, exporter)] = onnx_models.export(model, args, folder / f"{name}-{exporter}.onnx", dynamo)
            except Exception as exc:  # an exporter that cannot handle the model here: skipped, with why
                out[(name, exporter)] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
    return out


def _torch_and_onnx(exported: dict[tuple[str, str], Any], name: str, exporter: str) -> tuple[Measurement, Measurement]:
    path = exported[(name, exporter)]
    if not isinstance(path, Path):
        pytest.skip(f"torch.onnx.export(dynamo={EXPORTERS[exporter]}) fails on {name} here: {path}")
    model, args = onnx_models.build(name)
    return count_forward(model, args), count_onnx(path, [tuple(a.shape) for a in args])


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", onnx_models.MODELS)
def test_exported_models_agree_with_the_torch_engine(
    exported: dict[tuple[str, str], Any], name: str, exporter: str
) -> None:
    from_torch, from_onnx = _torch_and_onnx(exported, name, exporter)
    assert abs(from_onnx.macs - from_torch.macs) <= 0.005 * from_torch.macs, (from_onnx.macs, from_torch.macs)
    assert from_onnx.flops == 2 * from_onnx.macs
    assert from_onnx.params == from_torch.params + PARAMS_FOLDED.get((name, exporter), 0)
    assert dict(from_onnx.uncounted_ops) == {} and from_onnx.notes == ()
    assert from_onnx.memory_access > 0 and from_onnx.peak_memory is not None


# Figures measured in this environment (torch 2.13, onnx 1.23): every combination
# agrees exactly. The torch engine's count, for reference:
TORCH_MACS = {"cnn": 934_048, "encoder": 786_432, "mlp": 103_424, "rnn": 606_480}


@pytest.mark.parametrize("name", onnx_models.MODELS)
def test_torch_figures_are_the_reference(name: str) -> None:
    model, args = onnx_models.build(name)
    assert count_forward(model, args).macs == TORCH_MACS[name]


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_exported_module_paths_match_the_torch_modules(exported: dict[tuple[str, str], Any], exporter: str) -> None:
    from_torch, from_onnx = _torch_and_onnx(exported, "encoder", exporter)
    torch_macs = {s.path: s.macs for s in from_torch.modules}
    onnx_macs = {s.path: s.macs for s in from_onnx.modules}
    for path in (
        "",
        "embed",
        "layers.layers.0",
        "layers.layers.0.linear1",
        "layers.layers.1.self_attn",
        "causal",
        "head",
    ):
        assert onnx_macs.get(path) == torch_macs[path], path


def test_dynamo_fused_conv_is_attributed_to_the_conv(exported: dict[tuple[str, str], Any]) -> None:
    from_torch, from_onnx = _torch_and_onnx(exported, "cnn", "dynamo")
    torch_macs = {s.path: s.macs for s in from_torch.modules if s.macs}
    onnx_macs = {s.path: s.macs for s in from_onnx.modules if s.macs}
    assert onnx_macs == torch_macs  # stem, dw, pw, grouped, up, head: not bn1..bn4


def test_opset23_attention_export_agrees(tmp_path: Path) -> None:
    model, args = onnx_models.build("encoder")
    path = tmp_path / "enc23.onnx"
    try:
        onnx_models.export(model, args, path, dynamo=True, opset_version=23)
    except Exception as exc:
        pytest.skip(f"the dynamo exporter cannot write opset 23 here: {exc}")
    from_onnx = count_onnx(path, [(2, 16, 24)])
    assert "onnx.Attention" in from_onnx.ops
    assert from_onnx.macs == TORCH_MACS["encoder"]


def test_external_data_inside_the_folder_is_counted_without_loading_it(tmp_path: Path) -> None:
    model = onnx.load(str(conv_graph(tmp_path / "src.onnx")))
    folder = tmp_path / "ext"
    (folder / "weights").mkdir(parents=True)
    onnx.save(model, str(folder / "m.onnx"), save_as_external_data=True, location="weights/m.bin", size_threshold=0)
    m = count_onnx(folder / "m.onnx")
    assert (m.macs, m.params) == (28_800, 304)


# --- loading files that are broken or hostile -------------------------------------------------


def source(path: Path) -> OnnxSource:
    return OnnxSource(path, "detector", "models/detector.onnx")


def refused(path: Path) -> FlopguardError:
    with pytest.raises(FlopguardError) as info:
        count_onnx(source(path))
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    err = refused(tmp_path / "nothing.onnx")
    assert (err.code, err.message) == ("FG321", "model 'detector': models/detector.onnx: not found")
    assert "relative to the budget file's folder" in (err.fix or "")


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"")
    err = refused(tmp_path / "m.onnx")
    assert (err.code, err.message) == ("FG322", "model 'detector': models/detector.onnx: is empty (0 bytes)")


LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 12345\n"
)


def test_git_lfs_pointer(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_text(LFS_POINTER)
    err = refused(tmp_path / "m.onnx")
    assert (err.code, err.message) == (
        "FG323",
        "model 'detector': models/detector.onnx: is a Git LFS pointer (130 bytes), not the model",
    )
    assert (
        err.fix == "fetch the LFS objects: run `git lfs pull`, or set `lfs: true` on actions/checkout in the workflow"
    )


@pytest.mark.parametrize("content", [b"\xff" * 100, b"not an onnx file\n", "truncated"])
def test_corrupt_file(tmp_path: Path, content: Any) -> None:
    if content == "truncated":
        content = conv_graph(tmp_path / "good.onnx").read_bytes()[:300]
    (tmp_path / "m.onnx").write_bytes(content)
    err = refused(tmp_path / "m.onnx")
    assert err.code == "FG324"
    assert err.message == (
        "model 'detector': models/detector.onnx: is not a valid ONNX model (DecodeError: "
        "Error parsing message with type 'onnx.ModelProto': Wire format was corrupt)"
    )


def test_a_message_that_parses_but_is_no_model(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"\x12\x00")  # field 2 (producer_name), empty: a valid ModelProto
    err = refused(tmp_path / "m.onnx")
    assert (err.code, err.message) == (
        "FG324",
        "model 'detector': models/detector.onnx: is not a valid ONNX model (no IR version or no graph)",
    )


def test_too_big_for_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_loader, "MAX_INLINE_BYTES", 1000)
    big = conv_graph(tmp_path / "m.onnx")
    err = refused(big)
    assert err.code == "FG325" and "over protobuf's 2 GB limit" in err.message
    assert err.fix == "save the weights as external data: onnx.save(model, path, save_as_external_data=True)"


def external(tmp_path: Path, location: str, data: bytes = b"\0" * 1152) -> Path:
    """The conv graph with its weight `w` (1152 bytes) stored at `location`."""
    model = onnx.load(str(conv_graph(tmp_path / "src.onnx")))
    weight = next(t for t in model.graph.initializer if t.name == "w")
    weight.ClearField("raw_data")
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value=location)
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    target = folder / location
    if ".." not in location and not os.path.isabs(location) and not target.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    onnx.save(model, str(folder / "detector.onnx"))
    return folder / "detector.onnx"


INSIDE = "external data must sit in the model's folder or below it: save it again with a relative location"


def test_external_data_with_dotdot_is_refused_before_reading(tmp_path: Path) -> None:
    (tmp_path / "secret.bin").write_bytes(b"\1" * 1152)
    err = refused(external(tmp_path, "../secret.bin"))
    assert (err.code, err.message, err.fix) == (
        "FG326",
        "model 'detector': models/detector.onnx: tensor 'w' keeps its data in '../secret.bin', outside the model's folder",
        INSIDE,
    )


def test_external_data_at_an_absolute_path_is_refused(tmp_path: Path) -> None:
    err = refused(external(tmp_path, "/etc/passwd"))
    assert (err.code, err.message) == (
        "FG326",
        "model 'detector': models/detector.onnx: tensor 'w' keeps its data in '/etc/passwd', an absolute path",
    )


def test_external_data_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"\1" * 1152)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "w.bin").symlink_to(outside)
    err = refused(external(tmp_path, "w.bin"))
    assert (err.code, err.message) == (
        "FG326",
        "model 'detector': models/detector.onnx: tensor 'w' keeps its data in 'w.bin', "
        "a symbolic link that leads outside the model's folder",
    )


def test_external_data_missing_or_short(tmp_path: Path) -> None:
    path = external(tmp_path, "w.bin", data=b"\0" * 100)
    err = refused(path)
    assert (err.code, err.message) == (
        "FG327",
        "model 'detector': models/detector.onnx: tensor 'w' needs bytes 0..1152 of 'w.bin', which holds 100 bytes",
    )
    (path.parent / "w.bin").unlink()
    err = refused(path)
    assert (err.code, err.message) == (
        "FG327",
        "model 'detector': models/detector.onnx: tensor 'w' keeps its data in 'w.bin', which does not exist",
    )


def test_external_data_that_is_an_lfs_pointer(tmp_path: Path) -> None:
    err = refused(external(tmp_path, "w.bin", data=LFS_POINTER.encode()))
    assert (err.code, err.message) == (
        "FG323",
        "model 'detector': models/detector.onnx: tensor 'w' keeps its data in 'w.bin', "
        "which is a Git LFS pointer (130 bytes), not the data",
    )


def test_checker_rejection(tmp_path: Path) -> None:
    node = helper.make_node("NoSuchOp", ["x"], ["y"])
    path = save(tmp_path / "m.onnx", [node], [value("x", [1])], [value("y", [1])])
    err = refused(path)
    assert err.code == "FG328"
    assert err.message.startswith("model 'detector': models/detector.onnx: the ONNX checker rejected it: ")
    assert "NoSuchOp" in err.message


def test_a_crash_in_the_checker_costs_the_model_not_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_inference, "_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    err = refused(conv_graph(tmp_path / "m.onnx"))
    assert (err.code, err.message) == (
        "FG328",
        "model 'detector': models/detector.onnx: the ONNX checker or shape inference crashed (signal 11)",
    )


def test_inputs_that_do_not_fit_the_graph(tmp_path: Path) -> None:
    node = helper.make_node("Conv", ["images", "w"], ["y"], kernel_shape=[3, 3])
    path = save(
        tmp_path / "m.onnx",
        [node],
        [value("images", ["N", 8, 10, 10])],
        [value("y", ["N", 16, 8, 8])],
        [tensor("w", [16, 8, 3, 3])],
    )
    cases = {
        "imgs": "the budget gives input 'imgs', which the graph does not have (it has: images)",
        "rank": "input 'images' is [N, 8, 10, 10] in the file; the budget gives [1, 8, 10]",
        "fixed": "input 'images' is [N, 8, 10, 10] in the file; the budget gives [1, 3, 10, 10]",
        "none": "input 'images' has dynamic dims [N, 8, 10, 10] and the budget gives no shape for it",
    }
    given: dict[str, Any] = {
        "imgs": {"imgs": (1, 8, 10, 10)},
        "rank": [(1, 8, 10)],
        "fixed": [(1, 3, 10, 10)],
        "none": [],
    }
    for case, message in cases.items():
        with pytest.raises(FlopguardError) as info:
            count_onnx(source(path), given[case])
        assert (info.value.code, info.value.message) == ("FG329", f"model 'detector': models/detector.onnx: {message}")
    with pytest.raises(FlopguardError) as info:
        count_onnx(source(path), {"image": (1, 8, 10, 10)})
    assert info.value.fix == "did you mean 'images'? name the graph's inputs in `inputs:`"


def test_runner_measures_an_entry_with_an_inputs_factory(tmp_path: Path) -> None:
    from pytest_flopguard.budget.schema import InputsSpec, ModelSpec
    from pytest_flopguard.errors import Location
    from pytest_flopguard.workers.entry import measure_model

    conv_graph(tmp_path / "conv.onnx")
    (tmp_path / "make.py").write_text("import torch\n\ndef inputs():\n    return [torch.zeros(1, 8, 10, 10)]\n")
    spec = ModelSpec(
        "conv", Location("flopguard.yaml", 3, "models.conv"), onnx="conv.onnx", inputs=InputsSpec(factory="make:inputs")
    )
    result = measure_model(spec, tmp_path)
    assert result.error is None and result.metrics["macs"] == 28_800 and result.execution == "onnx-static"


def test_runner_records_a_refused_file_on_that_model(tmp_path: Path) -> None:
    from pytest_flopguard.budget.schema import InputsSpec, ModelSpec, TensorSpec
    from pytest_flopguard.errors import Location
    from pytest_flopguard.workers.entry import measure_model

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "det.onnx").write_text(LFS_POINTER)
    spec = ModelSpec(
        "det",
        Location("flopguard.yaml", 7, "models.det"),
        onnx="models/det.onnx",
        inputs=InputsSpec(args=(TensorSpec((1, 3, 8, 8)),)),
    )
    error = measure_model(spec, tmp_path).error
    assert error is not None
    assert (error.type, error.code, error.where) == ("FlopguardError", "FG323", "flopguard.yaml:7 models.det")
    assert error.message == "model 'det': models/det.onnx: is a Git LFS pointer (130 bytes), not the model"


def test_importing_the_plugin_and_runner_does_not_import_onnx(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import sys, pytest_flopguard.plugin, pytest_flopguard.workers.entry; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- end to end: `flopguard measure` with good, corrupt and torch models ------------------------


@pytest.mark.slow
def test_measure_counts_good_onnx_and_reports_the_corrupt_one(example_copy: Path) -> None:
    models = example_copy / "models"  # example_repo ships models/detector.onnx (the same CNN)
    (models / "broken.onnx").write_bytes(b"\xff" * 64)
    with (example_copy / "flopguard.yaml").open("a") as f:
        f.write("\n  broken:\n    onnx: models/broken.onnx\n    inputs: [[1, 3, 32, 32]]\n")
    proc = run_cli("measure", "--json", "out.json", cwd=example_copy)
    data = json.loads((example_copy / "out.json").read_text())["models"]
    assert data["detector"]["error"] is None
    assert data["detector"]["metrics"]["macs"] == TORCH_MACS["cnn"]
    assert data["detector"]["execution"] == "onnx-static"
    assert data["classifier"]["metrics"]["macs"] > 0 and data["tiny_gpt"]["metrics"]["macs"] > 0
    error = data["broken"]["error"]
    assert error["code"] == "FG324"
    assert error["message"].startswith("model 'broken': models/broken.onnx: is not a valid ONNX model")
    assert "broken" in proc.stdout and "FG324" in proc.stdout + proc.stderr
