"""Parsing the variant keys of a model entry: `variants:`, `resolutions:`, `batch:`,
`dtype:`, `per_variant:` settings and `accuracy:` (see `variants.py` for what they mean;
whether they can apply to the entry: `variant_checks.py`).

Errors carry the file, line and key path like every budget error; the loader
owns the walk over the YAML nodes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from pytest_flopguard.budget.devices import DeviceProfile
from pytest_flopguard.budget.inputs import parse_inputs
from pytest_flopguard.budget.limits import limit_lines, parse_floor, parse_limits, parse_tolerance
from pytest_flopguard.budget.nodes import Ctx, flow, mapping, node_text, parse_kwargs, scalar
from pytest_flopguard.budget.schema import InputsSpec
from pytest_flopguard.budget.units import format_resolution
from pytest_flopguard.errors import did_you_mean

VARIANT_KEYS = ("inputs", "kwargs", "limits", "tolerance", "floor", "dtype", "accuracy")
PER_VARIANT_KEYS = ("limits", "tolerance", "floor", "accuracy")
# Floating dtypes a model can be converted to, with the short names used in variant ids.
SHORT_DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64"}
_LONG_DTYPES = {short: long for long, short in SHORT_DTYPES.items()}
_ID = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Overrides:
    """What one explicit variant (or one `per_variant` key) sets."""

    id: str | None = None
    node: yaml.Node | None = None
    inputs: InputsSpec | None = None
    kwargs: Mapping[str, Any] | None = None
    limits: Mapping[str, float] = field(default_factory=dict)
    limit_lines: Mapping[str, int] = field(default_factory=dict)
    tolerance: Mapping[str, float] = field(default_factory=dict)
    floor: Mapping[str, float] = field(default_factory=dict)
    dtype: str | None = None
    accuracy: float | None = None
    profiles: Mapping[str, DeviceProfile] = field(default_factory=dict)
    line: int | None = None  # of the variant's key in the budget file


@dataclass(frozen=True)
class Matrix:
    """The variant keys of one entry, parsed: None where a key is absent."""

    explicit: list[Overrides] | None
    resolutions: list[tuple[int, int]] | None
    batches: list[int] | None
    dtypes: list[str] | None
    dtype: str | None  # `dtype: bfloat16`: the entry's own dtype, no variants
    accuracy: float | None


def parse(ctx: Ctx, fields: dict[str, yaml.Node], path: str, known: Mapping[str, DeviceProfile], device: str) -> Matrix:
    dtype, dtypes = _dtype_setting(ctx, fields.get("dtype"), f"{path}.dtype")
    return Matrix(
        explicit=_explicit(ctx, fields.get("variants"), f"{path}.variants", known, device),
        resolutions=_resolutions(ctx, fields.get("resolutions"), f"{path}.resolutions"),
        batches=_batches(ctx, fields.get("batch"), f"{path}.batch"),
        dtypes=dtypes,
        dtype=dtype,
        accuracy=_accuracy(ctx, fields.get("accuracy"), f"{path}.accuracy"),
    )


def all_variants_give_inputs(node: yaml.Node | None) -> bool:
    """True when every explicit variant has its own `inputs:` (the entry then needs none)."""
    entries = items(node)
    return bool(entries) and all(isinstance(v, yaml.MappingNode) and "inputs" in items(v) for v in entries.values())


def items(node: yaml.Node | None) -> dict[str, yaml.Node]:
    """A mapping node's {literal key: value}, without reporting (the loader already did)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


# --- parsing ------------------------------------------------------------------


def _dtype_setting(ctx: Ctx, node: yaml.Node | None, path: str) -> tuple[str | None, list[str] | None]:
    """`dtype: bfloat16` converts the model; `dtype: [float32, bfloat16]` is a matrix axis."""
    if node is None:
        return None, None
    if isinstance(node, yaml.SequenceNode):
        names = [_float_dtype(ctx, item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        if not node.value:
            ctx.error(
                "FG141", node, path, "an empty list makes no variants", "list the dtypes, e.g. [float32, bfloat16]"
            )
        ok = all(names) and _listed_once(ctx, node.value, names, path, lambda n: SHORT_DTYPES[str(n)])
        return None, [n for n in names if n] if ok else None
    return _float_dtype(ctx, node, path), None


def _float_dtype(ctx: Ctx, node: yaml.Node, path: str) -> str | None:
    text = node.value.removeprefix("torch.") if isinstance(node, yaml.ScalarNode) else ""
    name = _LONG_DTYPES.get(text, text)
    if name in SHORT_DTYPES:
        return name
    choices = (*SHORT_DTYPES, *_LONG_DTYPES)
    guess = did_you_mean(text, choices)
    hint = f"; did you mean {guess!r}?" if guess else ""
    ctx.error(
        "FG142",
        node,
        path,
        f"a model converts to a floating dtype, not {node_text(node)!r}{hint}",
        "use one of: float32, float16, bfloat16, float64 (or fp32, fp16, bf16, fp64)",
    )
    return None


def _explicit(
    ctx: Ctx, node: yaml.Node | None, path: str, known: Mapping[str, DeviceProfile], device: str
) -> list[Overrides] | None:
    if node is None:
        return None
    entries = mapping(ctx, node, path, None)
    if entries is None:
        return None
    if not entries:
        ctx.error("FG140", node, path, "`variants:` is empty", "add e.g. `640: {}` and `1280: {inputs: ...}`")
    out = []
    for key_node, value in node.value if isinstance(node, yaml.MappingNode) else ():
        key = str(key_node.value)
        if key not in entries or entries[key] is not value:
            continue  # a duplicate, already reported
        if not _ID.match(key):
            ctx.error(
                "FG140",
                key_node,
                f"{path}.{key}",
                f"variant id {key!r} may hold only letters, digits, `_`, `.` and `-`",
                "rename it, e.g. `640`, `large` or `int8-calibrated`",
            )
        own = overrides(ctx, key, value, f"{path}.{key}", VARIANT_KEYS, known, device)
        out.append(dataclasses.replace(own, line=key_node.start_mark.line + 1))
    return out


def overrides(
    ctx: Ctx,
    key: str,
    node: yaml.Node,
    path: str,
    allowed: tuple[str, ...],
    known: Mapping[str, DeviceProfile],
    device: str,
) -> Overrides:
    from pytest_flopguard.budget.profiles import check_latency_limits

    is_null = isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")
    fields = {} if is_null else (mapping(ctx, node, path, allowed) or {})
    limits = parse_limits(ctx, fields["limits"], f"{path}.limits", device=device) if "limits" in fields else {}
    lines = limit_lines(device, fields.get("limits"))
    return Overrides(
        id=key,
        node=node,
        inputs=parse_inputs(ctx, fields["inputs"], f"{path}.inputs", node) if "inputs" in fields else None,
        kwargs=parse_kwargs(ctx, fields["kwargs"], f"{path}.kwargs") if "kwargs" in fields else None,
        limits=limits,
        limit_lines=lines,
        tolerance=parse_tolerance(ctx, fields["tolerance"], f"{path}.tolerance") if "tolerance" in fields else {},
        floor=parse_floor(ctx, fields["floor"], f"{path}.floor") if "floor" in fields else {},
        dtype=_float_dtype(ctx, fields["dtype"], f"{path}.dtype") if "dtype" in fields else None,
        accuracy=_accuracy(ctx, fields.get("accuracy"), f"{path}.accuracy"),
        profiles=check_latency_limits(ctx, limits, lines, known, path),
    )


def _sizes(ctx: Ctx, node: yaml.Node | None, path: str, what: str, example: str) -> list[yaml.Node] | None:
    """The items of a matrix axis list, or None (absent or reported)."""
    if node is None:
        return None
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        got = "an empty list" if isinstance(node, yaml.SequenceNode) else repr(flow(node))
        ctx.error("FG141", node, path, f"`{what}` is a list of sizes, got {got}", f"write e.g. `{what}: {example}`")
        return None
    return list(node.value)


def _positive(node: yaml.Node) -> int | None:
    if isinstance(node, yaml.ScalarNode) and node.style is None and node.value.isdigit() and int(node.value) >= 1:
        return int(node.value)
    return None


def _resolutions(ctx: Ctx, node: yaml.Node | None, path: str) -> list[tuple[int, int]] | None:
    """`[224, [384, 640]]` -> `[(224, 224), (384, 640)]`: a side, or [height, width]."""
    items = _sizes(ctx, node, path, "resolutions", "[224, 448] or [[384, 640]]")
    if items is None:
        return None
    out: list[tuple[int, int]] = []
    for i, item in enumerate(items):
        side = _positive(item)
        pair = [_positive(v) for v in item.value] if isinstance(item, yaml.SequenceNode) else []
        if side is not None:
            out.append((side, side))
        elif len(pair) == 2 and pair[0] is not None and pair[1] is not None:
            out.append((pair[0], pair[1]))
        else:
            ctx.error(
                "FG141",
                item,
                f"{path}[{i}]",
                f"a resolution is a side or [height, width] of integers >= 1, got {flow(item)}",
                "write e.g. 448 or [384, 640]",
            )
    ok = len(out) == len(items) and _listed_once(ctx, items, out, path, format_resolution)
    return out if ok else None


def _batches(ctx: Ctx, node: yaml.Node | None, path: str) -> list[int] | None:
    items = _sizes(ctx, node, path, "batch", "[1, 8]")
    if items is None:
        return None
    out = []
    for i, item in enumerate(items):
        size = _positive(item)
        if size is None:
            ctx.error(
                "FG141",
                item,
                f"{path}[{i}]",
                f"a batch size is an integer >= 1, got {flow(item)}",
                "write e.g. `batch: [1, 8]`",
            )
        else:
            out.append(size)
    ok = len(out) == len(items) and _listed_once(ctx, items, out, path, lambda b: f"b{b}")
    return out if ok else None


def _listed_once(ctx: Ctx, items: Sequence[yaml.Node], values: Sequence[Any], path: str, part: Any) -> bool:
    """Each value of a matrix axis once: two would make two variants of one id."""
    for i, value in enumerate(values):
        if value in values[:i]:
            ctx.error(
                "FG144",
                items[i],
                f"{path}[{i}]",
                f"{part(value)!r} is listed twice, at [{list(values).index(value)}] and [{i}]",
                "list it once (`bf16` is `bfloat16`, and `224` is `[224, 224]`)",
            )
            return False
    return True


def _accuracy(ctx: Ctx, node: yaml.Node | None, path: str) -> float | None:
    """`accuracy: 76.1`: the user's figure (top-1, mAP...), reported and plotted, never gated."""
    if node is None:
        return None
    value = scalar(ctx, node) if isinstance(node, yaml.ScalarNode) else None
    if isinstance(value, (int, float)):
        return float(value)
    ctx.error(
        "FG146",
        node,
        path,
        f"accuracy is a plain number, got {flow(node)!r}",
        "write the figure you report, e.g. `accuracy: 76.1` (it is plotted, never gated)",
    )
    return None
