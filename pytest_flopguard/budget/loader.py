"""Read `flopguard.yaml` into a `Budget`, with file:line on every error.

The YAML is composed into nodes (safe loader, no object construction) and
walked by hand, so each value keeps its line and key path. Keys are read as
their literal text, so model names such as `no` or `on` stay strings
(YAML 1.1 would make them booleans). Errors inside one model entry are kept
on that entry and the other models stay usable; errors that concern the
whole file raise `BudgetError`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from pytest_flopguard.budget import units
from pytest_flopguard.budget.hardening import check_shape, check_target, check_tree, confine
from pytest_flopguard.budget.schema import DTYPES, LATENCY_DEVICE, Budget, InputsSpec, ModelSpec, TensorSpec
from pytest_flopguard.errors import BudgetError, Location, did_you_mean
from pytest_flopguard.measure.device_profiles import SHIPPED, DeviceProfile
from pytest_flopguard.metrics import METRICS

SUPPORTED_VERSIONS = (1,)
TOP_KEYS = ("version", "defaults", "models", "devices")
MODEL_KEYS: tuple[str, ...] = ("model", "onnx", "kwargs", "inputs", "limits", "tolerance", "floor", "device", "timing")
# Variants (`variants.py`): one entry, several deployment shapes; `accuracy` is plotted, never gated.
MODEL_KEYS += ("variants", "resolutions", "batch", "dtype", "per_variant", "accuracy")
# `timeout: 5m`: the most one model may take in its worker process (`pool.py`).
MODEL_KEYS += ("timeout",)
DEFAULT_KEYS = ("device", "tolerance", "floor", "limits", "inputs", "timing", "timeout")
MAX_BYTES = 1_000_000  # a budget file is hand-written; refuse anything huge fast


class _Ctx:
    """Where we are in the file, and the errors found so far."""

    def __init__(self, display: str, loader: yaml.SafeLoader) -> None:
        self.display = display
        self.loader = loader
        self.errors: list[BudgetError] = []
        self.folder: Path | None = None  # the budget's folder: `onnx:` paths must stay in its repository

    def loc(self, node: yaml.Node, path: str) -> Location:
        return Location(self.display, node.start_mark.line + 1, path)

    def error(self, code: str, node: yaml.Node, path: str, message: str, fix: str) -> None:
        model = path.split(".")[1] if path.startswith("models.") and path.count(".") >= 1 else None
        self.errors.append(BudgetError(code, message, location=self.loc(node, path), fix=fix, model=model))


def load_budget(path: str | os.PathLike[str]) -> Budget:
    """Load and validate a budget file.

    >>> budget = load_budget("flopguard.yaml")  # doctest: +SKIP
    >>> budget.model("classifier").limits["flops"]  # doctest: +SKIP
    1200000000
    """
    path = Path(path)
    display = _display_name(path)
    text = _read(path, display)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # NUL and other control characters are refused on reading
        raise BudgetError(
            "FG101", f"not valid YAML: {str(exc).splitlines()[0]}", location=Location(display), fix="save it as text"
        ) from None
    try:
        root = _compose(loader, display)
        check_tree(root, display)  # tags, alias bombs, nesting: before anything reads a value
        ctx = _Ctx(display, loader)
        ctx.folder = path.resolve().parent
        return _budget(ctx, root, path.resolve(), display)
    finally:
        loader.dispose()


def _display_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read(path: Path, display: str) -> str:
    fix = "create it, or point --flopguard-budget / --budget at your budget file"
    try:
        if path.stat().st_size > MAX_BYTES:
            raise BudgetError(
                "FG100",
                f"budget file is over {MAX_BYTES} bytes",
                location=Location(display),
                fix="a budget file lists models; split generated data out of it",
            )
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BudgetError("FG100", "budget file not found", location=Location(display), fix=fix) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BudgetError("FG100", f"cannot read budget file: {exc}", location=Location(display), fix=fix) from None


def _compose(loader: yaml.SafeLoader, display: str) -> yaml.Node:
    try:
        node = loader.get_single_node()
    except RecursionError:  # PyYAML composes recursively: thousands of `[` exhaust the stack
        raise BudgetError(
            "FG151", "nested too deeply to read", location=Location(display), fix="flatten the file"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise BudgetError(
            "FG101",
            f"not valid YAML: {exc.problem}",
            location=Location(display, line),
            fix="fix the YAML syntax at that line",
        ) from None
    if node is None:
        raise BudgetError(
            "FG101",
            "budget file is empty",
            location=Location(display),
            fix="start with `version: 1` and a `models:` mapping",
        )
    return node


def _budget(ctx: _Ctx, root: yaml.Node, path: Path, display: str) -> Budget:
    top = _mapping(ctx, root, "", TOP_KEYS)
    if ctx.errors or top is None:
        raise (
            ctx.errors[0]
            if ctx.errors
            else _fatal(
                ctx,
                root,
                "",
                "FG102",
                "the budget must be a mapping",
                "start with `version: 1` and a `models:` mapping",
            )
        )
    version = _version(ctx, top.get("version"), root)
    defaults_node = top.get("defaults")
    defaults = _mapping(ctx, defaults_node, "defaults", DEFAULT_KEYS) if defaults_node else {}
    models_node = top.get("models")
    if models_node is None:
        raise _fatal(
            ctx, root, "models", "FG103", "missing `models:`", "add a `models:` mapping of model name -> entry"
        )
    models = _mapping(ctx, models_node, "models", None)
    from pytest_flopguard.budget.profiles import parse_devices
    from pytest_flopguard.measure.device_profiles import SHIPPED

    devices = parse_devices(ctx, top["devices"]) if "devices" in top else {}
    _check_defaults(ctx, defaults or {})
    if ctx.errors:  # a broken version/defaults/models/devices section affects every model
        raise ctx.errors[0]
    assert models is not None and defaults is not None
    known = {**SHIPPED, **devices}
    specs = tuple(spec for name, node in models.items() for spec in _entries(ctx, name, node, defaults, known))
    return Budget(path=path, display=display, version=version, models=specs, devices=devices)


def _fatal(ctx: _Ctx, node: yaml.Node, path: str, code: str, message: str, fix: str) -> BudgetError:
    return BudgetError(code, message, location=ctx.loc(node, path), fix=fix)


def _version(ctx: _Ctx, node: yaml.Node | None, root: yaml.Node) -> int:
    if node is None:
        raise _fatal(ctx, root, "version", "FG104", "missing `version:`", "add `version: 1` at the top of the file")
    if not isinstance(node, yaml.ScalarNode) or not node.value.isdigit():
        raise _fatal(
            ctx, node, "version", "FG104", f"version must be an integer, got {node_text(node)!r}", "write `version: 1`"
        )
    version = int(node.value)
    if version not in SUPPORTED_VERSIONS:
        raise _fatal(
            ctx,
            node,
            "version",
            "FG104",
            f"budget version {version} is not supported by this pytest-flopguard (supports {SUPPORTED_VERSIONS})",
            "upgrade pytest-flopguard, or write `version: 1`",
        )
    return version


def node_text(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__.replace("Node", "").lower()


# --- generic node helpers -----------------------------------------------------


def _mapping(
    ctx: _Ctx, node: yaml.Node | None, path: str, allowed: tuple[str, ...] | None
) -> dict[str, yaml.Node] | None:
    """A mapping node as {literal key: value node}; unknown/duplicate keys are errors."""
    if not isinstance(node, yaml.MappingNode):
        if node is not None:
            ctx.error(
                "FG105", node, path, f"expected a mapping, got {node_text(node)!r}", "write `key: value` pairs here"
            )
        return None
    out: dict[str, yaml.Node] = {}
    lines: dict[str, int] = {}
    for key_node, value in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else node_text(key_node)
        sub = f"{path}.{key}" if path else key
        if key in out:
            ctx.error(
                "FG106",
                key_node,
                sub,
                f"duplicate key {key!r} (first at line {lines[key]})",
                "remove one of the two entries",
            )
            continue
        if allowed is not None and key not in allowed:
            _unknown_key(ctx, key_node, sub, key, allowed)
            continue
        out[key] = value
        lines[key] = key_node.start_mark.line + 1
    return out


def _unknown_key(ctx: _Ctx, node: yaml.Node, path: str, key: str, allowed: tuple[str, ...]) -> None:
    guess = did_you_mean(key, allowed)
    hint = f"; did you mean {guess!r}?" if guess else ""
    fix = f"rename it to {guess!r}" if guess else f"use one of: {', '.join(allowed)}"
    ctx.error("FG107", node, path, f"unknown key {key!r}{hint}", fix)


def _string(ctx: _Ctx, node: yaml.Node, path: str, what: str) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.value:
        return str(node.value)
    ctx.error("FG108", node, path, f"expected {what}, got {node_text(node)!r}", f"write {what}")
    return None


def _quantity(ctx: _Ctx, node: yaml.Node, path: str, parse: Callable[[object], Any]) -> Any:
    """Parse a scalar with a units parser, reporting UnitError at the node."""
    if not isinstance(node, yaml.ScalarNode):
        ctx.error(
            "FG109",
            node,
            path,
            f"expected a quantity, got {node_text(node)!r}",
            "write a number with its unit, e.g. 1.2G, 40MB, 25ms",
        )
        return None
    try:
        return parse(_scalar(ctx, node))
    except units.UnitError as exc:
        ctx.error("FG109", node, path, exc.message, exc.fix)
        return None


def _scalar(ctx: _Ctx, node: yaml.ScalarNode) -> object:
    """A scalar as YAML 1.2 would read it: ints and floats, else the text."""
    text = node.value
    if node.style is None:  # plain (unquoted) scalar
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                pass
    return text


# --- model entries ------------------------------------------------------------


def _entries(
    ctx: _Ctx, name: str, node: yaml.Node, defaults: dict[str, yaml.Node], known: Mapping[str, DeviceProfile]
) -> list[ModelSpec]:
    """One model entry, or one per variant: `detector[640]`, `detector[1280]`."""
    from pytest_flopguard.budget.variants import expand

    return expand(ctx, _model(ctx, name, node, defaults, known), node, known)


def _model(
    ctx: _Ctx, name: str, node: yaml.Node, defaults: dict[str, yaml.Node], known: Mapping[str, DeviceProfile]
) -> ModelSpec:
    from pytest_flopguard.budget.profiles import check_latency_limits, parse_timing

    before = len(ctx.errors)
    path = f"models.{name}"
    fields = _mapping(ctx, node, path, MODEL_KEYS) or {}
    source = _source(ctx, fields, node, path)
    # `defaults.device` was checked once, by _check_defaults.
    device = _device(ctx, fields["device"], path) if "device" in fields else _device(None, defaults.get("device"), "")
    limits = partial(_limits, device=device)
    spec = ModelSpec(
        name=name,
        location=ctx.loc(node, path),
        model=source.get("model"),
        onnx=source.get("onnx"),
        kwargs=_kwargs(ctx, fields.get("kwargs"), f"{path}.kwargs"),
        inputs=_entry_inputs(ctx, fields, defaults.get("inputs"), path, node),
        limits=_merged(ctx, limits, defaults.get("limits"), fields.get("limits"), path, "limits"),
        tolerance=_merged(ctx, _tolerance, defaults.get("tolerance"), fields.get("tolerance"), path, "tolerance"),
        floor=_merged(ctx, _floor, defaults.get("floor"), fields.get("floor"), path, "floor"),
        device=device,
        limit_lines=_limit_lines(device, fields.get("limits"), defaults.get("limits")),
        errors=(),
        timing=parse_timing(
            ctx, fields.get("timing"), f"{path}.timing", parse_timing(ctx, defaults.get("timing"), "defaults.timing")
        ),
        timeout=_timeout(ctx, fields.get("timeout"), defaults.get("timeout"), path),
    )
    profiles = check_latency_limits(ctx, spec.limits, spec.limit_lines, known, path)
    spec = dataclasses.replace(spec, profiles=profiles)
    errors = tuple(ctx.errors[before:])
    return ModelSpec(**{**spec.__dict__, "errors": errors}) if errors else spec


def _entry_inputs(
    ctx: _Ctx, fields: dict[str, yaml.Node], default: yaml.Node | None, path: str, node: yaml.Node
) -> InputsSpec:
    """The entry's inputs; it needs none when each of its `variants:` gives its own."""
    from pytest_flopguard.budget.variants import all_variants_give_inputs

    given = fields.get("inputs") or default
    if given is None and all_variants_give_inputs(fields.get("variants")):
        return InputsSpec()
    return _inputs(ctx, given, f"{path}.inputs", node)


def _source(ctx: _Ctx, fields: dict[str, yaml.Node], node: yaml.Node, path: str) -> dict[str, str]:
    given = {key: fields[key] for key in ("model", "onnx") if key in fields}
    if not given and _misspelled_source(node):
        return {}  # already reported as an unknown key with its suggestion
    if len(given) != 1:
        problem = "both `model:` and `onnx:`" if given else "neither `model:` nor `onnx:`"
        ctx.error(
            "FG110",
            node,
            path,
            f"the entry has {problem}",
            "give exactly one: `model: package.module:factory` or `onnx: path/to/file.onnx`",
        )
        return {}
    key, value = next(iter(given.items()))
    text = _string(
        ctx,
        value,
        f"{path}.{key}",
        "a factory `package.module:function`" if key == "model" else "a path to an .onnx file",
    )
    if text is None:
        return {}
    if key == "model" and not check_target(text):
        ctx.error(
            "FG111",
            value,
            f"{path}.model",
            f"{text!r} is not `package.module:function`",
            "name the module and the factory, e.g. `models.vision:build_classifier`",
        )
        return {}
    if key == "onnx" and ctx.folder is not None and (why := confine(text, ctx.folder)) is not None:
        ctx.error("FG152", value, f"{path}.onnx", why, "keep the ONNX file inside the repository, by a relative path")
        return {}
    return {key: text}


def _timeout(ctx: _Ctx, own: yaml.Node | None, default: yaml.Node | None, path: str) -> float | None:
    """`timeout: 5m` of the entry, else of `defaults:`; None: the pool's default."""
    from pytest_flopguard.budget.hardening import parse_timeout

    node, where = (own, f"{path}.timeout") if own is not None else (default, "defaults.timeout")
    return _quantity(ctx, node, where, parse_timeout) if node is not None else None


def _misspelled_source(node: yaml.Node) -> bool:
    keys = [str(k.value) for k, _ in node.value] if isinstance(node, yaml.MappingNode) else []
    return any(k not in MODEL_KEYS and did_you_mean(k, ("model", "onnx")) for k in keys)


def _kwargs(ctx: _Ctx, node: yaml.Node | None, path: str) -> dict[str, Any]:
    if node is None or _mapping(ctx, node, path, None) is None:
        return {}
    value = ctx.loader.construct_object(node, deep=True)
    return dict(value)


def _device(ctx: _Ctx | None, node: yaml.Node | None, path: str) -> str:
    """`device:`, where `latency` is measured when a limit names no device; errors go to `ctx` if given."""
    if not isinstance(node, yaml.ScalarNode):
        if node is not None and ctx is not None:
            _string(ctx, node, f"{path}.device", "a device name such as cpu or cuda")
        return "cpu"
    if LATENCY_DEVICE.match(node.value):
        return str(node.value)
    if ctx is not None:
        ctx.error(
            "FG118",
            node,
            f"{path}.device",
            f"latency is measured on `cpu`, `cuda` or `cuda:N`, not {node.value!r}",
            "for a device this runner does not have, use `latency_estimate: {NAME: ...}` with a profile",
        )
    return "cpu"


def _check_defaults(ctx: _Ctx, defaults: dict[str, yaml.Node]) -> None:
    """Parse `defaults:` once: a bad value there is one whole-file error, not one per model."""
    device = _device(ctx, defaults.get("device"), "defaults")
    for section, parse in (("limits", partial(_limits, device=device)), ("tolerance", _tolerance), ("floor", _floor)):
        if section in defaults:
            parse(ctx, defaults[section], f"defaults.{section}")


def _merged(
    ctx: _Ctx,
    parse: Callable[..., dict[str, float]],
    default: yaml.Node | None,
    own: yaml.Node | None,
    path: str,
    section: str,
) -> dict[str, float]:
    merged = parse(ctx, default, f"defaults.{section}") if default is not None else {}
    return {**merged, **(parse(ctx, own, f"{path}.{section}") if own is not None else {})}


def _limits(ctx: _Ctx, node: yaml.Node, path: str, *, device: str) -> dict[str, float]:
    """`limits:`; a `latency` that names no device is on the entry's `device`."""
    out: dict[str, float] = {}
    for key, value in (_mapping(ctx, node, path, tuple(METRICS)) or {}).items():
        metric = METRICS[key]
        if key == "latency" and isinstance(value, yaml.ScalarNode):
            parsed = _quantity(ctx, value, f"{path}.{key}", partial(units.parse_time, subject=key))
            if parsed is not None:
                out[f"{key}.{device}"] = parsed
            continue
        if metric.per_device and isinstance(value, yaml.ScalarNode):
            ctx.error(
                "FG112",
                value,
                f"{path}.{key}",
                f"{key} limits name a device profile",
                f"write `{key}: {{NAME: {value.value}}}` with NAME a shipped profile "
                f"({', '.join(sorted(SHIPPED))}) or one under `devices:`",
            )
            continue
        if metric.per_device:
            for device, sub in (_mapping(ctx, value, f"{path}.{key}", None) or {}).items():
                parsed = _quantity(ctx, sub, f"{path}.{key}.{device}", partial(units.parse_time, subject=key))
                if parsed is not None:
                    out[f"{key}.{device}"] = parsed
            continue
        parsed = _quantity(ctx, value, f"{path}.{key}", partial(units.parse_metric_value, metric))
        if parsed is not None:
            out[key] = parsed
    return out


def _tolerance(ctx: _Ctx, node: yaml.Node, path: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (_mapping(ctx, node, path, tuple(METRICS)) or {}).items():
        parsed = _quantity(ctx, value, f"{path}.{key}", units.parse_percent)
        if parsed is not None:
            out[key] = parsed
    return out


def _floor(ctx: _Ctx, node: yaml.Node, path: str) -> dict[str, float]:
    """`floor: {flops: 1M, latency: 0.2ms}`: one figure per metric, in its unit (all devices alike)."""
    out: dict[str, float] = {}
    for key, value in (_mapping(ctx, node, path, tuple(METRICS)) or {}).items():
        metric = METRICS[key]
        parse = (
            partial(units.parse_time, subject=f"a {key} floor")
            if metric.per_device
            else partial(units.parse_metric_value, metric)
        )
        parsed = _quantity(ctx, value, f"{path}.{key}", parse)
        if parsed is not None:
            out[key] = parsed
    return out


def _limit_lines(device: str, *nodes: yaml.Node | None) -> dict[str, int]:
    """Line of each limit, the model's own entry winning over defaults."""
    lines: dict[str, int] = {}
    for node in reversed([n for n in nodes if isinstance(n, yaml.MappingNode)]):
        for key, sub_key, value in _walk_limits(node):
            flat = f"{key}.{sub_key or device}" if key == "latency" else f"{key}.{sub_key}" if sub_key else key
            lines[flat] = value.start_mark.line + 1
    return lines


def _walk_limits(node: yaml.MappingNode) -> Iterator[tuple[str, str, yaml.Node]]:
    for key_node, value in node.value:
        key = str(key_node.value)
        if isinstance(value, yaml.MappingNode):
            for sub_key, sub_value in value.value:
                yield key, str(sub_key.value), sub_value
        else:
            yield key, "", key_node


# --- inputs -------------------------------------------------------------------


def _inputs(ctx: _Ctx, node: yaml.Node | None, path: str, entry: yaml.Node) -> InputsSpec:
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
        text = _string(ctx, node, path, "a function `package.module:function`")
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
    named = _mapping(ctx, node, path, None) or {}
    pairs = ((name, _tensor(ctx, sub, f"{path}.{name}")) for name, sub in named.items())
    return InputsSpec(kwargs=tuple((name, t) for name, t in pairs if t is not None))


def _tensor(ctx: _Ctx, node: yaml.Node, path: str) -> TensorSpec | None:
    if isinstance(node, yaml.SequenceNode):
        shape = _shape(ctx, node, path)
        return TensorSpec(shape) if shape is not None else None
    fields = _mapping(ctx, node, path, ("shape", "dtype", "range"))
    if fields is None:
        return None
    if "shape" not in fields:
        ctx.error("FG114", node, path, "a tensor needs a `shape`", "write `{shape: [1, 128], dtype: int64}`")
        return None
    shape = _shape(ctx, fields["shape"], f"{path}.shape")
    dtype = _dtype(ctx, fields.get("dtype"), f"{path}.dtype")
    value_range = _range(ctx, fields.get("range"), f"{path}.range")
    return TensorSpec(shape, dtype, value_range) if shape is not None and dtype else None


def _ints(ctx: _Ctx, node: yaml.Node, path: str, what: str, minimum: int) -> tuple[int, ...] | None:
    items = node.value if isinstance(node, yaml.SequenceNode) else None
    if items is not None and all(
        isinstance(i, yaml.ScalarNode) and i.value.isdigit() and int(i.value) >= minimum for i in items
    ):
        return tuple(int(i.value) for i in items)
    ctx.error(
        "FG114",
        node,
        path,
        f"{what} must be a list of integers >= {minimum}, got {_flow(node)}",
        f"write e.g. {'[1, 3, 224, 224]' if what == 'a shape' else '[0, 32000]'}",
    )
    return None


def _shape(ctx: _Ctx, node: yaml.Node, path: str) -> tuple[int, ...] | None:
    shape = _ints(ctx, node, path, "a shape", 1)
    if shape is not None and (why := check_shape(shape)) is not None:
        ctx.error("FG114", node, path, why, "write the shape of one real input, e.g. [1, 3, 224, 224]")
        return None
    return shape


def _range(ctx: _Ctx, node: yaml.Node | None, path: str) -> tuple[int, int] | None:
    if node is None:
        return None
    bounds = _ints(ctx, node, path, "a range", 0)
    if bounds is None:
        return None
    if len(bounds) != 2 or bounds[0] >= bounds[1]:
        ctx.error("FG114", node, path, "a range is [low, high) with low < high", "write e.g. [0, 32000]")
        return None
    return (bounds[0], bounds[1])


def _dtype(ctx: _Ctx, node: yaml.Node | None, path: str) -> str | None:
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


def _flow(node: yaml.Node) -> str:
    """A node as flow-style YAML text, for messages: `[1, 3, -32, 32]`."""
    if isinstance(node, yaml.SequenceNode):
        return "[" + ", ".join(_flow(i) for i in node.value) + "]"
    return node_text(node)
