"""One model entry of a budget file: its keys, its defaults, and the `ModelSpec` it gives.

`loader.py` reads the file and its top-level sections, then hands each entry
under `models:` to `entries`, which checks its keys, fills in `defaults:`,
and expands variants (`variants.py`). A fault in one entry is recorded on
that model's spec (its `errors`); the other models stay usable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import partial

import yaml

from pytest_flopguard.budget.devices import DeviceProfile
from pytest_flopguard.budget.hardening import check_target, confine
from pytest_flopguard.budget.history import KEYS as HISTORY_KEYS
from pytest_flopguard.budget.history import parse_history
from pytest_flopguard.budget.inputs import parse_inputs
from pytest_flopguard.budget.limits import limit_lines, merged, parse_device, parse_floor, parse_limits, parse_tolerance
from pytest_flopguard.budget.nodes import Ctx, choice, mapping, parse_kwargs, quantity, string
from pytest_flopguard.budget.schema import InputsSpec, ModelSpec
from pytest_flopguard.errors import did_you_mean

MODEL_KEYS: tuple[str, ...] = ("model", "onnx", "kwargs", "inputs", "limits", "tolerance", "floor", "device", "timing")
# Variants (`variants.py`): one entry, several deployment shapes; `accuracy` is plotted, never gated.
MODEL_KEYS += ("variants", "resolutions", "batch", "dtype", "per_variant", "accuracy")
# `timeout: 5m`: the most one model may take in its worker process (`workers/pool.py`).
MODEL_KEYS += ("timeout",)
# `build_on: cpu`: real random weights instead of meta; `data_dependent: upper_bound`: a
# data-dependent model counted on meta under stated assumptions (measure/torch_engine/execute.py).
MODEL_KEYS += ("build_on", "data_dependent")
DEFAULT_KEYS: tuple[str, ...] = ("device", "tolerance", "floor", "limits", "inputs", "timing", "timeout", "build_on", "data_dependent")
# The results history (`budget/history.py`): drift limits, their reference, the ratchet.
MODEL_KEYS += HISTORY_KEYS
DEFAULT_KEYS += HISTORY_KEYS
# A factory-only key -> its choices, the first the default, and its error code.
CHOICES = {"build_on": (("meta", "cpu"), "FG147"), "data_dependent": (("real_run", "upper_bound"), "FG148")}


def entries(
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
        history=parse_history(ctx, fields, defaults, path),
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


def check_defaults(ctx: Ctx, defaults: dict[str, yaml.Node]) -> None:
    """Parse `defaults:` once: a bad value there is one whole-file error, not one per model."""
    device = parse_device(ctx, defaults.get("device"), "defaults")
    parse_history(ctx, {}, defaults, "defaults")
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
