"""`per_variant:` settings of a model entry with variants: by variant id, or by any part(s) of one.

```yaml
per_variant:
  448: {limits: {flops: 8G}}         # every variant with 448 in its id
  448-b8: {limits: {flops: 64G}}     # more specific: wins over `448` for 448-b8
```

Keys are checked against the variants' ids (FG145, with a "did you mean");
two keys of one specificity may not set the same thing for one variant unless
a more specific key settles it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence

import yaml

from pytest_flopguard.budget.devices import DeviceProfile
from pytest_flopguard.budget.nodes import Ctx, mapping
from pytest_flopguard.budget.schema import ModelSpec
from pytest_flopguard.budget.variant_parse import PER_VARIANT_KEYS, Overrides, overrides
from pytest_flopguard.errors import did_you_mean


def parse_per_variant(
    ctx: Ctx,
    node: yaml.Node | None,
    path: str,
    variants: list[tuple[str, ...]],
    known: Mapping[str, DeviceProfile],
    device: str,
) -> dict[str, Overrides]:
    """`per_variant: {448: {...}, 448-b8: {...}}`: settings by id, or by any part(s) of one."""
    entries = mapping(ctx, node, path, None) if node is not None else None
    keys = {key for parts in variants for key in _selectors(parts)}
    out = {}
    for key, value in (entries or {}).items():
        if key in keys:
            out[key] = overrides(ctx, key, value, f"{path}.{key}", PER_VARIANT_KEYS, known, device)
            continue
        guess = did_you_mean(key, keys)
        hint = f"; did you mean {guess!r}?" if guess else ""
        ids = ", ".join("-".join(parts) for parts in variants)
        ctx.error(
            "FG145",
            value,
            f"{path}.{key}",
            f"{key!r} matches no variant{hint}",
            f"use a variant id ({ids}) or parts of one",
        )
    for parts in variants:
        if node is not None and _conflict(ctx, out, parts, path, node):
            break
    return out


def _selectors(parts: Sequence[str]) -> dict[str, int]:
    """Every `per_variant` key that selects a variant with these parts, with how many parts it names:
    `("448", "b8")` -> `{"448": 1, "b8": 1, "448-b8": 2}`."""
    return {"-".join(chosen): n for n in range(1, len(parts) + 1) for chosen in itertools.combinations(parts, n)}


def _applicable(settings: dict[str, Overrides], parts: Sequence[str]) -> list[tuple[int, str, Overrides]]:
    """(specificity, key, settings) of the keys that select this variant: the least specific first,
    so that `448-b8` wins over `448`; keys of equal specificity in file order."""
    selectors = _selectors(parts)
    return sorted(
        ((selectors[key], key, value) for key, value in settings.items() if key in selectors), key=lambda x: x[0]
    )


def _conflict(ctx: Ctx, settings: dict[str, Overrides], parts: tuple[str, ...], path: str, node: yaml.Node) -> bool:
    """Two keys of one specificity may not set the same thing, unless a more specific key settles it."""
    applicable = _applicable(settings, parts)
    setters: dict[str, tuple[int, str]] = {}
    for level, key, value in applicable:
        for name in _set_names(value):
            first = setters.setdefault(name, (level, key))
            settled = any(lv > level and name in _set_names(v) for lv, _, v in applicable)
            if first != (level, key) and first[0] == level and not settled:
                vid = "-".join(parts)
                ctx.error(
                    "FG145",
                    value.node or node,
                    f"{path}.{key}",
                    f"{first[1]!r} and {key!r} both set {name} for variant {vid}",
                    f"set it under `{vid}`, which wins over both",
                )
                return True
            setters[name] = (level, key)
    return False


def _set_names(value: Overrides) -> list[str]:
    names = [f"{section}.{k}" for section in ("limits", "tolerance", "floor") for k in getattr(value, section)]
    return names + (["accuracy"] if value.accuracy is not None else [])


def with_settings(spec: ModelSpec, settings: dict[str, Overrides], parts: Sequence[str]) -> ModelSpec:
    for _, _, value in _applicable(settings, parts):
        spec = dataclasses.replace(
            spec,
            limits={**spec.limits, **value.limits},
            limit_lines={**spec.limit_lines, **value.limit_lines},
            tolerance={**spec.tolerance, **value.tolerance},
            floor={**spec.floor, **value.floor},
            profiles={**spec.profiles, **value.profiles},
            accuracy=value.accuracy if value.accuracy is not None else spec.accuracy,
        )
    return spec
