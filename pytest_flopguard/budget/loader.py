"""Read `flopguard.yaml` into a `Budget`, with file:line on every error.

The YAML is composed into nodes (safe loader, no object construction) and
walked by hand, so each value keeps its line and key path. Keys are read as
their literal text, so model names such as `no` or `on` stay strings
(YAML 1.1 would make them booleans). Errors inside one model entry are kept
on that entry and the other models stay usable; errors that concern the
whole file raise `BudgetError`.

This module walks the file and its model entries; the parts of an entry are
read by `nodes.py` (the node helpers), `limits.py`, `inputs.py`,
`profiles.py` (`devices:`, `timing:`) and `variants.py`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import yaml

from pytest_flopguard.budget.devices import DeviceProfile
from pytest_flopguard.budget.hardening import check_target, check_tree, confine
from pytest_flopguard.budget.inputs import parse_inputs
from pytest_flopguard.budget.limits import limit_lines, merged, parse_device, parse_floor, parse_limits, parse_tolerance
from pytest_flopguard.budget.nodes import Ctx, choice, mapping, node_text, parse_kwargs, quantity, string
from pytest_flopguard.budget.schema import Budget, InputsSpec, ModelSpec
from pytest_flopguard.errors import BudgetError, Location, did_you_mean

SUPPORTED_VERSIONS = (1,)
TOP_KEYS = ("version", "defaults", "models", "devices")
MODEL_KEYS: tuple[str, ...] = ("model", "onnx", "kwargs", "inputs", "limits", "tolerance", "floor", "device", "timing")
# Variants (`variants.py`): one entry, several deployment shapes; `accuracy` is plotted, never gated.
MODEL_KEYS += ("variants", "resolutions", "batch", "dtype", "per_variant", "accuracy")
# `timeout: 5m`: the most one model may take in its worker process (`workers/pool.py`).
MODEL_KEYS += ("timeout",)
# `build_on: cpu`: real random weights instead of meta; `data_dependent: upper_bound`: a
# data-dependent model counted on meta under stated assumptions (measure/torch_engine/execute.py).
MODEL_KEYS += ("build_on", "data_dependent")
DEFAULT_KEYS = ("device", "tolerance", "floor", "limits", "inputs", "timing", "timeout", "build_on", "data_dependent")
# A factory-only key -> its choices, the first the default, and its error code.
CHOICES = {"build_on": (("meta", "cpu"), "FG147"), "data_dependent": (("real_run", "upper_bound"), "FG148")}
MAX_BYTES = 1_000_000  # a budget file is hand-written; refuse anything huge fast


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
        ctx = Ctx(display, loader)
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


def _budget(ctx: Ctx, root: yaml.Node, path: Path, display: str) -> Budget:
    top = mapping(ctx, root, "", TOP_KEYS)
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
    defaults = mapping(ctx, defaults_node, "defaults", DEFAULT_KEYS) if defaults_node else {}
    models_node = top.get("models")
    if models_node is None:
        raise _fatal(
            ctx, root, "models", "FG103", "missing `models:`", "add a `models:` mapping of model name -> entry"
        )
    models = mapping(ctx, models_node, "models", None)
    from pytest_flopguard.budget.devices import SHIPPED
    from pytest_flopguard.budget.profiles import parse_devices

    devices = parse_devices(ctx, top["devices"]) if "devices" in top else {}
    _check_defaults(ctx, defaults or {})
    if ctx.errors:  # a broken version/defaults/models/devices section affects every model
        raise ctx.errors[0]
    assert models is not None and defaults is not None
    known = {**SHIPPED, **devices}
    specs = tuple(spec for name, node in models.items() for spec in _entries(ctx, name, node, defaults, known))
    return Budget(path=path, display=display, version=version, models=specs, devices=devices)


def _fatal(ctx: Ctx, node: yaml.Node, path: str, code: str, message: str, fix: str) -> BudgetError:
    return BudgetError(code, message, location=ctx.loc(node, path), fix=fix)


def _version(ctx: Ctx, node: yaml.Node | None, root: yaml.Node) -> int:
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


# --- model entries ------------------------------------------------------------


def _entries(
    ctx: Ctx, name: str, node: yaml.Node, defaults: dict[str, yaml.Node], known: Mapping[str, DeviceProfile]
) -> list[ModelSpec]:
    """One model entry, or one per variant: `detector[640]`, `detector[1280]`."""
    from pytest_flopguard.budget.variants import expand

    return expand(ctx, _model(ctx, name, node, defaults, known), node, known)


def _model(
    ctx: Ctx, name: str, node: yaml.Node, defaults: dict[str, yaml.Node], known: Mapping[str, DeviceProfile]
) -> ModelSpec:
    from pytest_flopguard.budget.profiles import check_latency_limits, parse_timing

    before = len(ctx.errors)
    path = f"models.{name}"
    fields = mapping(ctx, node, path, MODEL_KEYS) or {}
    source = _source(ctx, fields, node, path)
    # `defaults.device` was checked once, by _check_defaults.
    device = (
        parse_device(ctx, fields["device"], path)
        if "device" in fields
        else parse_device(None, defaults.get("device"), "")
    )
    limits = partial(parse_limits, device=device)
    spec = ModelSpec(
        name=name,
        location=ctx.loc(node, path),
        model=source.get("model"),
        onnx=source.get("onnx"),
        kwargs=parse_kwargs(ctx, fields.get("kwargs"), f"{path}.kwargs"),
        inputs=_entry_inputs(ctx, fields, defaults.get("inputs"), path, node),
        limits=merged(ctx, limits, defaults.get("limits"), fields.get("limits"), path, "limits"),
        tolerance=merged(ctx, parse_tolerance, defaults.get("tolerance"), fields.get("tolerance"), path, "tolerance"),
        floor=merged(ctx, parse_floor, defaults.get("floor"), fields.get("floor"), path, "floor"),
        device=device,
        limit_lines=limit_lines(device, fields.get("limits"), defaults.get("limits")),
        errors=(),
        timing=parse_timing(
            ctx, fields.get("timing"), f"{path}.timing", parse_timing(ctx, defaults.get("timing"), "defaults.timing")
        ),
        timeout=_timeout(ctx, fields.get("timeout"), defaults.get("timeout"), path),
        build_on=_choice(ctx, fields, defaults, path, "build_on"),
        data_dependent=_choice(ctx, fields, defaults, path, "data_dependent"),
    )
    profiles = check_latency_limits(ctx, spec.limits, spec.limit_lines, known, path)
    spec = dataclasses.replace(spec, profiles=profiles)
    errors = tuple(ctx.errors[before:])
    return ModelSpec(**{**spec.__dict__, "errors": errors}) if errors else spec


def _entry_inputs(
    ctx: Ctx, fields: dict[str, yaml.Node], default: yaml.Node | None, path: str, node: yaml.Node
) -> InputsSpec:
    """The entry's inputs; it needs none when each of its `variants:` gives its own."""
    from pytest_flopguard.budget.variants import all_variants_give_inputs

    given = fields.get("inputs") or default
    if given is None and all_variants_give_inputs(fields.get("variants")):
        return InputsSpec()
    return parse_inputs(ctx, given, f"{path}.inputs", node)


def _source(ctx: Ctx, fields: dict[str, yaml.Node], node: yaml.Node, path: str) -> dict[str, str]:
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
    text = string(
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


def _timeout(ctx: Ctx, own: yaml.Node | None, default: yaml.Node | None, path: str) -> float | None:
    """`timeout: 5m` of the entry, else of `defaults:`; None: the pool's default."""
    from pytest_flopguard.budget.hardening import parse_timeout

    node, where = (own, f"{path}.timeout") if own is not None else (default, "defaults.timeout")
    return quantity(ctx, node, where, parse_timeout) if node is not None else None


def _choice(ctx: Ctx, fields: dict[str, yaml.Node], defaults: dict[str, yaml.Node], path: str, key: str) -> str:
    """A factory-only key of `CHOICES` (`build_on: cpu`): the entry's, else `defaults:`'s."""
    choices, code = CHOICES[key]
    own = fields.get(key)
    if own is not None and "onnx" in fields:
        ctx.error(code, own, f"{path}.{key}", f"`{key}` applies to a `model:` factory", "remove it")
    if own is not None:
        return choice(ctx, own, f"{path}.{key}", choices, code) or choices[0]
    value = getattr(defaults.get(key), "value", choices[0])  # `defaults:` was checked once, by _check_defaults
    return value if value in choices else choices[0]


def _misspelled_source(node: yaml.Node) -> bool:
    keys = [str(k.value) for k, _ in node.value] if isinstance(node, yaml.MappingNode) else []
    return any(k not in MODEL_KEYS and did_you_mean(k, ("model", "onnx")) for k in keys)


def _check_defaults(ctx: Ctx, defaults: dict[str, yaml.Node]) -> None:
    """Parse `defaults:` once: a bad value there is one whole-file error, not one per model."""
    device = parse_device(ctx, defaults.get("device"), "defaults")
    for key, (choices, code) in CHOICES.items():
        if key in defaults:
            choice(ctx, defaults[key], f"defaults.{key}", choices, code)
    for section, parse in (
        ("limits", partial(parse_limits, device=device)),
        ("tolerance", parse_tolerance),
        ("floor", parse_floor),
    ):
        if section in defaults:
            parse(ctx, defaults[section], f"defaults.{section}")
