"""`inputs:` of a budget entry: tensor specs by position or name, or a factory.

```yaml
inputs: [[1, 3, 224, 224]]                                  # positional, float32
inputs: {input_ids: {shape: [1, 128], dtype: int64, range: [0, 32000]}}
inputs: "models.text:make_inputs"                           # a function returning the arguments
```
"""

from __future__ import annotations

import yaml

from pytest_flopguard.budget.hardening import check_shape, check_target
from pytest_flopguard.budget.nodes import Ctx, flow, mapping, node_text, string
from pytest_flopguard.budget.schema import DTYPES, InputsSpec, TensorSpec
from pytest_flopguard.errors import did_you_mean


def parse_inputs(ctx: Ctx, node: yaml.Node | None, path: str, entry: yaml.Node) -> InputsSpec:
    if node is None:
        ctx.error(
            "FG113",
            entry,
            path,
            "missing `inputs:`",
            'add e.g. `inputs: [[1, 3, 224, 224]]`, `{input_ids: {shape: [1, 128], dtype: int64}}` or `"pkg.mod:make_inputs"`',
        )
        return InputsSpec()
    if isinstance(node, yaml.ScalarNode):
        text = string(ctx, node, path, "a function `package.module:function`")
        if text and not check_target(text):
            ctx.error(
                "FG113",
                node,
                path,
                f"{text!r} is not `package.module:function`",
                "name the function that returns the inputs, e.g. `models.text:make_inputs`",
            )
        return InputsSpec(factory=text)
    if isinstance(node, yaml.SequenceNode):
        args = (_tensor(ctx, item, f"{path}[{i}]") for i, item in enumerate(node.value))
        return InputsSpec(args=tuple(t for t in args if t is not None))
    named = mapping(ctx, node, path, None) or {}
    pairs = ((name, _tensor(ctx, sub, f"{path}.{name}")) for name, sub in named.items())
    return InputsSpec(kwargs=tuple((name, t) for name, t in pairs if t is not None))


def _tensor(ctx: Ctx, node: yaml.Node, path: str) -> TensorSpec | None:
    if isinstance(node, yaml.SequenceNode):
        shape = _shape(ctx, node, path)
        return TensorSpec(shape) if shape is not None else None
    fields = mapping(ctx, node, path, ("shape", "dtype", "range"))
    if fields is None:
        return None
    if "shape" not in fields:
        ctx.error("FG114", node, path, "a tensor needs a `shape`", "write `{shape: [1, 128], dtype: int64}`")
        return None
    shape = _shape(ctx, fields["shape"], f"{path}.shape")
    dtype = _dtype(ctx, fields.get("dtype"), f"{path}.dtype")
    value_range = _range(ctx, fields.get("range"), f"{path}.range")
    return TensorSpec(shape, dtype, value_range) if shape is not None and dtype else None


def _ints(ctx: Ctx, node: yaml.Node, path: str, what: str, minimum: int) -> tuple[int, ...] | None:
    items = node.value if isinstance(node, yaml.SequenceNode) else None
    if items is not None and all(
        isinstance(i, yaml.ScalarNode) and i.value.isdigit() and int(i.value) >= minimum for i in items
    ):
        return tuple(int(i.value) for i in items)
    ctx.error(
        "FG114",
        node,
        path,
        f"{what} must be a list of integers >= {minimum}, got {flow(node)}",
        f"write e.g. {'[1, 3, 224, 224]' if what == 'a shape' else '[0, 32000]'}",
    )
    return None


def _shape(ctx: Ctx, node: yaml.Node, path: str) -> tuple[int, ...] | None:
    shape = _ints(ctx, node, path, "a shape", 1)
    if shape is not None and (why := check_shape(shape)) is not None:
        ctx.error("FG114", node, path, why, "write the shape of one real input, e.g. [1, 3, 224, 224]")
        return None
    return shape


def _range(ctx: Ctx, node: yaml.Node | None, path: str) -> tuple[int, int] | None:
    if node is None:
        return None
    bounds = _ints(ctx, node, path, "a range", 0)
    if bounds is None:
        return None
    if len(bounds) != 2 or bounds[0] >= bounds[1]:
        ctx.error("FG114", node, path, "a range is [low, high) with low < high", "write e.g. [0, 32000]")
        return None
    return (bounds[0], bounds[1])


def _dtype(ctx: Ctx, node: yaml.Node | None, path: str) -> str | None:
    if node is None:
        return "float32"
    name = node.value if isinstance(node, yaml.ScalarNode) else ""
    name = name.removeprefix("torch.")
    if name in DTYPES:
        return name
    guess = did_you_mean(name, DTYPES)
    hint = f"; did you mean {guess!r}?" if guess else ""
    ctx.error("FG115", node, path, f"unknown dtype {node_text(node)!r}{hint}", f"use one of: {', '.join(DTYPES)}")
    return None
