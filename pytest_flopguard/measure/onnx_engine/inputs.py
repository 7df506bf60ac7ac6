"""The shape of every input of an ONNX graph: the budget's where it gives one,
else the file's own static shape; a budget shape that contradicts a static
dim, or a dynamic dim the budget leaves open, is an error naming the input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pytest_flopguard.errors import did_you_mean
from pytest_flopguard.measure.onnx_engine.loader import OnnxSource

if TYPE_CHECKING:
    from onnx import ModelProto, ValueInfoProto

Shape = tuple[int, ...]


def resolve_inputs(
    model: ModelProto, given: Sequence[Shape] | Mapping[str, Shape], source: OnnxSource
) -> dict[str, Shape]:
    """The shape of every graph input: the budget's, else the file's own static one."""
    graph_inputs = _graph_inputs(model)
    names = [v.name for v in graph_inputs]
    wanted = _named(given, names, source)
    shapes: dict[str, Shape] = {}
    for value in graph_inputs:
        declared = _declared(value)
        shape = wanted.get(value.name)
        if shape is None:
            shapes[value.name] = _static(value.name, declared, source)
            continue
        _check_fits(value.name, declared, shape, source)
        shapes[value.name] = tuple(int(d) for d in shape)
    return shapes


def _graph_inputs(model: ModelProto) -> list[ValueInfoProto]:
    # Before IR 4 initializers were listed as inputs too.
    constants = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in constants]


def _named(given: Sequence[Shape] | Mapping[str, Shape], names: list[str], source: OnnxSource) -> dict[str, Shape]:
    if not isinstance(given, Mapping):
        if len(given) > len(names):
            raise source.refuse(
                "FG329",
                f"the budget gives {len(given)} inputs; the graph has {len(names)}: {', '.join(names)}",
                "list one shape per graph input, in order, or name them: `inputs: {name: [shape]}`",
            )
        return dict(zip(names, given, strict=False))
    for name in given:
        if name not in names:
            guess = did_you_mean(name, names)
            hint = f"did you mean {guess!r}? " if guess else ""
            raise source.refuse(
                "FG329",
                f"the budget gives input {name!r}, which the graph does not have (it has: {', '.join(names)})",
                f"{hint}name the graph's inputs in `inputs:`",
            )
    return dict(given)


def _declared(value: ValueInfoProto) -> list[int | str] | None:
    """The input's dims as the file declares them (a name or '?' where dynamic), or None if unranked."""
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]


def _static(name: str, declared: list[int | str] | None, source: OnnxSource) -> Shape:
    if declared is None or any(isinstance(d, str) for d in declared):
        dims = "unknown" if declared is None else "[" + ", ".join(str(d) for d in declared) + "]"
        raise source.refuse(
            "FG329",
            f"input {name!r} has dynamic dims {dims} and the budget gives no shape for it",
            f"give its shape in `inputs:`, e.g. `inputs: {{{name}: [1, ...]}}`",
        )
    return tuple(int(d) for d in declared)


def _check_fits(name: str, declared: list[int | str] | None, shape: Sequence[int], source: OnnxSource) -> None:
    if declared is None:
        return
    fixed = [d for d in declared if isinstance(d, int) and d > 0]
    mismatch = len(declared) != len(shape) or any(
        isinstance(d, int) and d > 0 and d != s for d, s in zip(declared, shape, strict=False)
    )
    if mismatch:
        raise source.refuse(
            "FG329",
            f"input {name!r} is [{', '.join(str(d) for d in declared)}] in the file; the budget gives {list(shape)}",
            "match the rank and the fixed dims"
            + (f" ({fixed})" if fixed else "")
            + "; only dynamic dims can take the budget's sizes",
        )


