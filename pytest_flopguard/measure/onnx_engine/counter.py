"""Count an ONNX model from its graph alone: no runtime, no weights read.

The budget's input shapes replace the graph's dynamic dims (``inputs``), shape
inference (``inference``, in a child process) gives every value's shape and type, and
each node is counted with the torch engine's conventions (``formulas``):
``macs`` of matmul-class nodes, ``flops_other`` of the rest, bytes read plus
written by every node (views free), and a peak of live bytes. The result is
the same ``Measurement`` as a torch model's, with ``execution="onnx-static"``
and ops keyed ``onnx.Conv`` (``com.microsoft.Attention`` for other domains).

Which constants are parameters is ``graph``'s business, which module each
node came from ``scopes``'.

Example::

    m = count_onnx("models/detector.onnx", {"images": (1, 3, 640, 640)})
    m.macs, m.params, m.uncounted_ops
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flopguard.measure.onnx_engine import formulas as onnx_formulas
from pytest_flopguard.measure.onnx_engine.graph import (
    Parameters,
    constant_tensors,
    is_int_vector,
    is_view,
    peak_memory,
    value_bytes,
)
from pytest_flopguard.measure.onnx_engine.inference import infer_shapes
from pytest_flopguard.measure.onnx_engine.inputs import Shape, resolve_inputs
from pytest_flopguard.measure.onnx_engine.loader import OnnxSource, ValueType, load_model
from pytest_flopguard.measure.onnx_engine.scopes import Scopes
from pytest_flopguard.measure.types import Measurement, ModuleStats, Totals

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto

    from pytest_flopguard.budget.schema import ModelSpec

EXECUTION = "onnx-static"


def measure_spec(spec: ModelSpec, root: Path) -> Measurement:
    """Count the budget entry `spec` (an `onnx:` path relative to the budget's folder `root`)."""
    assert spec.onnx is not None  # the runner calls this for onnx entries only
    source = OnnxSource(root / spec.onnx, spec.name, spec.onnx, spec.location)
    if spec.inputs.factory is not None:
        return count_onnx(source, _factory_shapes(spec))
    args = [t.shape for t in spec.inputs.args]
    return count_onnx(source, {name: t.shape for name, t in spec.inputs.kwargs} if spec.inputs.kwargs else args)


def _factory_shapes(spec: ModelSpec) -> list[Shape] | dict[str, Shape]:
    from pytest_flopguard.measure.factory import make_inputs

    args, kwargs = make_inputs(spec.inputs, "cpu")
    if kwargs:
        return {name: tuple(int(d) for d in value.shape) for name, value in kwargs.items()}
    return [tuple(int(d) for d in value.shape) for value in args]


def count_onnx(source: OnnxSource | str | Path, inputs: Sequence[Shape] | Mapping[str, Shape] = ()) -> Measurement:
    """Count one inference of an ONNX file at the given input shapes.

    `inputs` maps graph input names to shapes, or lists shapes in the order
    of the graph's inputs; inputs with static shapes may be left out. Element
    types are the graph's own (a budget's `dtype:` is not needed here).

    >>> count_onnx("mlp.onnx", [(1, 64)]).macs  # doctest: +SKIP
    8192
    """
    if not isinstance(source, OnnxSource):
        source = OnnxSource(Path(source))
    model = load_model(source)
    shapes = resolve_inputs(model, inputs, source)
    with tempfile.TemporaryDirectory(prefix="flopguard-onnx-") as tmp:
        inlined = Path(tmp) / "inlined.onnx"
        types = infer_shapes(source, shapes, inlined)
        if inlined.exists():  # local functions, now inlined into the graph
            model = _load_inlined(inlined)
    return _Count(model, types, shapes, source).measurement()


def _load_inlined(path: Path) -> ModelProto:
    import onnx

    return onnx.load(str(path), load_external_data=False)


# --- counting --------------------------------------------------------------------------------


@dataclass
class _Count:
    model: ModelProto
    types: dict[str, ValueType]
    input_shapes: dict[str, Shape]
    source: OnnxSource
    ops: dict[str, Totals] = field(default_factory=dict)
    uncounted: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)  # work not counted: shapes unknown
    unsized: Counter[str] = field(default_factory=Counter)  # work counted, bytes unknown

    def __post_init__(self) -> None:
        self.constants = constant_tensors(self.model)
        for name, tensor in self.constants.items():
            self.types[name] = ValueType(tensor.data_type, tuple(int(d) for d in tensor.dims))
        for name, shape in self.input_shapes.items():
            self.types[name] = ValueType(self.types[name].elem_type if name in self.types else 1, shape)
        self.scopes = Scopes(self.model)
        self.node_scopes = [self.scopes.of(node) for node in self.model.graph.node]
        self.modules: dict[str, Totals] = {"": Totals(calls=1)}

    def measurement(self) -> Measurement:
        for node, scopes in zip(self.model.graph.node, self.node_scopes, strict=True):
            self._record(node, scopes)
        params = Parameters(self.model, self.constants, self.source)
        macs = sum(a.macs for a in self.ops.values())
        return Measurement(
            macs=macs,
            flops=2 * macs,
            flops_other=sum(a.flops_other for a in self.ops.values()),
            params=params.total(),
            memory_access=sum(a.memory_access for a in self.ops.values()),
            peak_memory=peak_memory(self.model, self.types, self.constants),
            modules=self._module_stats(params),
            ops={k: a.op_stats() for k, a in sorted(self.ops.items())},
            uncounted_ops=dict(sorted(self.uncounted.items())),
            execution=EXECUTION,
            notes=self._notes(),
        )

    def _record(self, node: NodeProto, scopes: list[str]) -> None:
        key = op_key(node)
        category = classify(node.domain, node.op_type)
        macs, other, unknown = 0, 0, False
        if _is_shape_arithmetic(node, self.types):
            category = "shape"
        elif category == "counted":
            try:
                macs, other = _formula(node)(self._view(node))
            except onnx_formulas.UnknownShape:
                unknown = True
            except onnx_formulas.Uncountable:
                category = "uncounted"
        moved = 0 if category == "shape" or is_view(node, self.types) else self._bytes(node)
        if category == "uncounted" or unknown:
            self.uncounted[key] += 1
        if unknown:
            self.unknown[key] += 1
        elif moved is None and category != "uncounted":
            self.unsized[key] += 1
        moved = moved or 0
        self.ops.setdefault(key, Totals()).add(macs, other, moved, calls=1)
        for path in ("", *scopes):
            self.modules.setdefault(path, Totals()).add(macs, other, moved)

    def _view(self, node: NodeProto) -> onnx_formulas.NodeView:
        return onnx_formulas.NodeView(
            op=node.op_type,
            inputs=tuple(self._shape(name) for name in node.input),
            present=tuple(bool(name) for name in node.input),
            outputs=tuple(self._shape(name) for name in node.output),
            attrs=_attributes(node),
        )

    def _shape(self, name: str) -> Shape | None:
        value = self.types.get(name)
        if value is None or value.dims is None or any(d is None for d in value.dims):
            return None
        return tuple(int(d) for d in value.dims if d is not None)

    def _bytes(self, node: NodeProto) -> int | None:
        total = 0
        for name in (*node.input, *node.output):
            if not name:
                continue
            size = value_bytes(self.types, name)
            if size is None:
                return None
            total += size
        return total

    def _module_stats(self, params: Parameters) -> tuple[ModuleStats, ...]:
        owned = params.per_module(self.node_scopes)
        stats = []
        for path, acc in self.modules.items():
            calls = 1 if path == "" else self.scopes.calls(path)
            stats.append(
                ModuleStats(
                    path,
                    self.scopes.type_of(path),
                    calls,
                    owned.get(path, 0),
                    acc.macs,
                    2 * acc.macs,
                    acc.flops_other,
                    acc.memory_access,
                )
            )
        return tuple(stats)

    def _notes(self) -> tuple[str, ...]:
        notes = []
        if self.unknown:
            notes.append(
                f"shape inference could not determine the shapes of {sum(self.unknown.values())} node(s) "
                f"({_listed(self.unknown)}); their work is listed as uncounted"
            )
        if self.unsized:
            notes.append(
                f"memory_access leaves out {sum(self.unsized.values())} node(s) whose tensor sizes shape "
                f"inference could not determine ({_listed(self.unsized)})"
            )
        return tuple(notes)


def _listed(counts: Counter[str]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(counts.items()))


def op_key(node: NodeProto) -> str:
    """`onnx.Conv` for the default domain, `com.microsoft.Attention` for others."""
    domain = node.domain if node.domain not in ("", "ai.onnx") else "onnx"
    return f"{domain}.{node.op_type}"


def classify(domain: str, op: str) -> str:
    """`counted` (a formula), `free` (on FREE) or `uncounted`."""
    if onnx_formulas.lookup(domain, op) is not None:
        return "counted"
    if domain in ("", "ai.onnx") and op in onnx_formulas.FREE:
        return "free"
    return "uncounted"


def _formula(node: NodeProto) -> onnx_formulas.Formula:
    found = onnx_formulas.lookup(node.domain, node.op_type)
    assert found is not None  # classify() said counted
    return found


def _is_shape_arithmetic(node: NodeProto, types: Mapping[str, ValueType]) -> bool:
    """Shape, or integer vectors in and out: sizes computed in the graph.

    The torch engine sees these as Python ints (``x.shape[1] // heads``), not
    ops, so they are free and move no bytes. Their lengths are often left
    unknown by shape inference, which needs no warning either.
    """
    if node.op_type in ("Shape", "Size") and node.domain in ("", "ai.onnx"):
        return True
    names = [n for n in (*node.input, *node.output) if n]
    return bool(names) and all(is_int_vector(types.get(n)) for n in names)


def _attributes(node: NodeProto) -> dict[str, Any]:
    from onnx import helper

    out: dict[str, Any] = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8", "replace") for v in value]
        out[attr.name] = value
    return out
