"""What an ONNX graph says beyond its ops: which constants are parameters and
the peak of live bytes (which module each node came from: ``scopes.py``).

**Parameters.** A constant tensor (an initializer or a ``Constant`` node;
an ``Identity`` of one is the same tensor) counts, once however many nodes
read it, when it is

* floating point with more than one element (integer weights count only where
  a quantized op reads them as weights: ``DequantizeLinear``, ``QLinearConv``,
  ``ConvInteger``, ``MatMulInteger``, ``QLinearMatMul``), and
* read by some node as an operand, not only as shape, index, scale, running
  statistic (BatchNormalization's mean and variance are buffers in PyTorch)
  or RNN initial state, and
* not a mask: a tensor that no node reads as a weight and that holds an
  infinity, NaN or its type's extreme value (a folded causal mask), nor
  zeros that nodes only move about (``Expand`` into an LSTM's initial state,
  ``Concat`` as padding).

Exporters store value-identical tensors once, so parameters that are equal
element for element (untrained LayerNorm weights, all ones) count once.

**Peak memory.** Every constant is live throughout; a value lives from the node
that makes it to its last reader (graph outputs to the end); views share
their input's bytes, as in the torch engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_flopguard.measure.onnx_engine import formulas as onnx_formulas
from pytest_flopguard.measure.onnx_engine.loader import OnnxSource, ValueType, nbytes, tensor_values

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto, TensorProto


def is_view(node: NodeProto, types: Mapping[str, ValueType]) -> bool:
    if node.domain not in ("", "ai.onnx"):
        return False
    if node.op_type in onnx_formulas.VIEWS:
        return True
    # Gather with a scalar index selects a slice: a view in the torch engine.
    indices = types.get(node.input[1]) if node.op_type == "Gather" and len(node.input) > 1 else None
    return indices is not None and indices.dims == ()


_INTEGERS = frozenset({2, 3, 4, 5, 6, 7, 9, 12, 13})  # onnx.TensorProto integer and bool types


def is_int_vector(value: ValueType | None) -> bool:
    return value is not None and value.elem_type in _INTEGERS and value.dims is not None and len(value.dims) <= 1


def value_bytes(types: Mapping[str, ValueType], name: str) -> int | None:
    value = types.get(name)
    if value is None or value.dims is None or any(d is None for d in value.dims):
        return None
    count = 1
    for d in value.dims:
        count *= int(d or 0)
    return nbytes(value.elem_type, count)


def constant_tensors(model: ModelProto) -> dict[str, TensorProto]:
    """Initializers and Constant-node tensors, by value name."""
    out = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    out[node.output[0]] = attr.t
    return out


# --- parameters ----------------------------------------------------------------------------

# Inputs that are never parameters: shapes, indices, scales, masks, running
# statistics and RNN initial states.
_NOT_PARAMETER: dict[str, frozenset[int]] = {
    "BatchNormalization": frozenset({3, 4}),
    "LSTM": frozenset({4, 5, 6}),
    "GRU": frozenset({4, 5}),
    "RNN": frozenset({4, 5}),
    "Resize": frozenset({1, 2, 3}),
    "Upsample": frozenset({1}),
    "Pad": frozenset({1, 2, 3}),
    "Clip": frozenset({1, 2}),
    "QuantizeLinear": frozenset({1, 2}),
    "DequantizeLinear": frozenset({1, 2}),
    "QLinearConv": frozenset({1, 2, 4, 5, 6, 7}),
    "QLinearMatMul": frozenset({1, 2, 4, 5, 6, 7}),
    "ConvInteger": frozenset({2, 3}),
    "MatMulInteger": frozenset({2, 3}),
    "Attention": frozenset({3}),
    "Where": frozenset({0}),
}
# Inputs read as weights: a constant read here is a parameter without a mask check.
_WEIGHT: dict[str, frozenset[int]] = {
    "Conv": frozenset({1, 2}),
    "ConvTranspose": frozenset({1, 2}),
    "ConvInteger": frozenset({1}),
    "QLinearConv": frozenset({3, 8}),
    "FusedConv": frozenset({1, 2}),
    "Gemm": frozenset({0, 1, 2}),
    "MatMul": frozenset({0, 1}),
    "MatMulInteger": frozenset({0, 1}),
    "QLinearMatMul": frozenset({0, 3}),
    "FusedMatMul": frozenset({0, 1}),
    "LSTM": frozenset({1, 2, 3, 7}),
    "GRU": frozenset({1, 2, 3}),
    "RNN": frozenset({1, 2, 3}),
    "LayerNormalization": frozenset({1, 2}),
    "BatchNormalization": frozenset({1, 2}),
    "InstanceNormalization": frozenset({1, 2}),
    "GroupNormalization": frozenset({1, 2}),
    "RMSNormalization": frozenset({1}),
    "SimplifiedLayerNormalization": frozenset({1}),
    "SkipLayerNormalization": frozenset({2, 3, 4}),
    "SkipSimplifiedLayerNormalization": frozenset({2, 3}),
    "Gather": frozenset({0}),
    "PRelu": frozenset({1}),
    "DequantizeLinear": frozenset({0}),
}
_QUANTIZED = frozenset({"DequantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger", "QLinearMatMul"})
_FLOATS = frozenset({1, 10, 11, 16, 17, 18, 19, 20, 23, 24, 27, 28})  # onnx.TensorProto float types


class Parameters:
    """Which constants are parameters (the rule in the module docstring), and who reads them."""

    def __init__(self, model: ModelProto, constants: Mapping[str, TensorProto], source: OnnxSource) -> None:
        self.constants, self.source = constants, source
        self.alias: dict[str, str] = {}  # Identity output -> the constant it copies
        self.readers: dict[str, list[tuple[int, str, int]]] = {}  # constant -> (node index, op, input index)
        for index, node in enumerate(model.graph.node):
            self._read(index, node)
        self.counted = {name: _numel(t.dims) for name, t in constants.items() if self._is_parameter(name, t)}

    def _read(self, index: int, node: NodeProto) -> None:
        for position, name in enumerate(node.input):
            root = self.alias.get(name, name)
            if root not in self.constants:
                continue
            if node.op_type == "Identity":
                self.alias[node.output[0]] = root
            else:
                self.readers.setdefault(root, []).append((index, node.op_type, position))

    def _is_parameter(self, name: str, tensor: TensorProto) -> bool:
        reads = [(op, i) for _, op, i in self.readers.get(name, []) if i not in _NOT_PARAMETER.get(op, ())]
        as_weight = any(i in _WEIGHT.get(op, ()) for op, i in reads)
        if not reads or _numel(tensor.dims) <= 1:
            return False
        if tensor.data_type not in _FLOATS:
            return any(op in _QUANTIZED and i in _WEIGHT.get(op, ()) for op, i in reads)
        only_moved = all(op in onnx_formulas.FREE for op, _ in reads)
        return as_weight or not self._is_filler(tensor, only_moved)

    def _is_filler(self, tensor: TensorProto, only_moved: bool) -> bool:
        """A mask (infinities, NaN, the type's extremes), or zeros that are only
        moved about (expanded into RNN initial states, concatenated as padding)."""
        import numpy as np

        try:
            values = np.asarray(tensor_values(tensor, self.source), dtype=np.float64)
        except Exception:  # an exotic float type numpy cannot hold: count it
            return False
        info = np.finfo(np.dtype(_NUMPY_FLOAT.get(tensor.data_type, "float32")))
        extreme = np.isin(values, [float(info.min), float(info.max)])
        return bool((~np.isfinite(values)).any() or extreme.any() or (only_moved and not values.any()))

    def total(self) -> int:
        return sum(self.counted.values())

    def per_module(self, node_scopes: Sequence[list[str]]) -> dict[str, int]:
        """Params of each module path: the parameters its nodes read, each once."""
        out: Counter[str] = Counter()
        for name, count in self.counted.items():
            paths = {""}
            for index, _, _ in self.readers.get(name, []):
                paths.update(node_scopes[index])
            for path in paths:
                out[path] += count
        return dict(out)


_NUMPY_FLOAT = {1: "float32", 10: "float16", 11: "float64"}


def _numel(dims: Iterable[int]) -> int:
    total = 1
    for d in dims:
        total *= int(d)
    return total


# --- peak memory --------------------------------------------------------------------------------


def peak_memory(model: ModelProto, types: Mapping[str, ValueType], constants: Mapping[str, Any]) -> int | None:
    """Peak bytes of constants plus live values after each node, in graph order.

    Views share their input's storage; a value lives from the node that makes
    it to its last reader (graph outputs to the end). None when a size is unknown.
    """
    nodes = list(model.graph.node)
    storage: dict[str, str] = {}
    last: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            last[storage.get(name, name)] = index
        view = is_view(node, types) and node.op_type not in ("Shape", "Size", "Constant") and node.input
        for name in node.output:
            storage[name] = storage.get(node.input[0], node.input[0]) if view else name
    for value in model.graph.output:
        last[storage.get(value.name, value.name)] = len(nodes)
    pinned = sum(nbytes(t.data_type, _numel(t.dims)) for t in constants.values())
    live = {v.name: value_bytes(types, v.name) or 0 for v in model.graph.input if v.name not in constants}
    current = pinned + sum(live.values())
    peak = current
    for index, node in enumerate(nodes):
        for name in node.output:
            if not name or storage.get(name) != name or name in constants:
                continue
            size = value_bytes(types, name)
            if size is None and is_int_vector(types.get(name)):
                size = 0  # a shape vector of unknown length: a few bytes
            if size is None:
                return None
            live[name] = size
            current += size
        peak = max(peak, current)
        for name in [n for n in live if last.get(n, index) <= index]:
            current -= live.pop(name)
    return peak
