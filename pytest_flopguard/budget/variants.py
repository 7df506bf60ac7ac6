"""Variants: one model entry, several deployment shapes (resolution, batch, dtype).

```yaml
models:
  detector:
    model: models.vision:build_detector
    inputs: [[1, 3, 640, 640]]
    limits: {flops: 12G}               # shared by every variant unless it overrides it
    variants:                          # explicit: each may override inputs, kwargs, limits,
      640: {}                          #   tolerance, floor, dtype and accuracy
      1280: {inputs: [[1, 3, 1280, 1280]], limits: {flops: 48G}}
    dtype: [float32, bfloat16]         # a matrix axis, crossed with the variants above
  classifier:
    model: models.vision:build_classifier
    inputs: [[1, 3, 224, 224]]
    resolutions: [224, 448]            # H and W of every 4-D floating input ([h, w] if not square)
    batch: [1, 8]                      # dim 0 of every input
    per_variant:                       # settings by variant id, or by any part of one
      448: {limits: {flops: 8G}}
      448-b8: {limits: {flops: 64G}}
```
expands to the entries `detector[640-fp32]`, `detector[640-bf16]`,
`detector[1280-fp32]`, `detector[1280-bf16]` and `classifier[224-b1]`, ...,
`classifier[448-b8]`: each is measured, gated, reported and selected (`-k 640`)
like any other model. An error anywhere in an entry keeps it one unexpanded
entry that carries the errors. Called by `entries.py`, which reads the entry.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from pytest_flopguard.budget.devices import DeviceProfile
from pytest_flopguard.budget.nodes import Ctx
from pytest_flopguard.budget.per_variant import parse_per_variant, with_settings
from pytest_flopguard.budget.schema import InputsSpec, ModelSpec, Variant
from pytest_flopguard.budget.units import format_resolution
from pytest_flopguard.budget.variant_checks import check_applies, is_image, tensors
from pytest_flopguard.budget.variant_parse import (
    SHORT_DTYPES,
    Matrix,
    Overrides,
    all_variants_give_inputs,
    items,
    parse,
)
from pytest_flopguard.errors import Location

__all__ = ["all_variants_give_inputs", "expand"]


@dataclass(frozen=True)
class _Combo:
    """One cell of explicit variants x resolutions x batch sizes x dtypes."""

    explicit: Overrides
    resolution: tuple[int, int] | None
    batch: int | None
    dtype: str | None

    @property
    def parts(self) -> tuple[str, ...]:
        """`("1280", "b8", "bf16")`: the pieces of the variant id, in order."""
        pieces = (
            self.explicit.id,
            format_resolution(self.resolution) if self.resolution else None,
            f"b{self.batch}" if self.batch else None,
            SHORT_DTYPES[self.dtype] if self.dtype else None,
        )
        return tuple(p for p in pieces if p)


def expand(ctx: Ctx, spec: ModelSpec, node: yaml.Node, known: Mapping[str, DeviceProfile]) -> list[ModelSpec]:
    """The entries one model entry stands for: itself, or one per variant."""
    fields = items(node)
    path = f"models.{spec.name}"
    before = len(ctx.errors)
    matrix = parse(ctx, fields, path, known, spec.device)
    spec = dataclasses.replace(spec, dtype=matrix.dtype, accuracy=matrix.accuracy)
    if not ctx.errors[before:]:
        check_applies(ctx, spec, fields, matrix.explicit, matrix.dtypes)
    combos = _combos(matrix)
    if combos is None and "per_variant" in fields:
        ctx.error(
            "FG145",
            fields["per_variant"],
            f"{path}.per_variant",
            "`per_variant` needs variants",
            "add `variants:`, `resolutions:`, `batch:` or a `dtype:` list, or move the settings into the entry",
        )
    if spec.errors or ctx.errors[before:]:
        return [dataclasses.replace(spec, errors=(*spec.errors, *ctx.errors[before:]))]
    if combos is None:
        return [dataclasses.replace(spec, inputs=_converted(spec.inputs, matrix.dtype))]
    specs = [_variant(spec, combo) for combo in combos]
    _check_unique(ctx, specs, node, path)
    settings = parse_per_variant(
        ctx, fields.get("per_variant"), f"{path}.per_variant", [c.parts for c in combos], known, spec.device
    )
    if ctx.errors[before:]:
        return [dataclasses.replace(spec, errors=tuple(ctx.errors[before:]))]
    return [with_settings(s, settings, combo.parts) for s, combo in zip(specs, combos, strict=True)]


def _check_unique(ctx: Ctx, specs: list[ModelSpec], node: yaml.Node, path: str) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            ctx.error(
                "FG144",
                node,
                path,
                f"two variants are both named {spec.name!r}",
                "give the explicit variants ids that no combination of sizes and dtypes repeats",
            )
            return
        seen.add(spec.name)


# --- expansion ----------------------------------------------------------------


def _combos(matrix: Matrix) -> list[_Combo] | None:
    """The cross product, explicit variants outermost; None for a plain entry."""
    axes = (matrix.explicit, matrix.resolutions, matrix.batches, matrix.dtypes)
    if all(axis is None for axis in axes):
        return None
    explicit: list[Overrides] = matrix.explicit or [Overrides()]
    resolutions: list[tuple[int, int] | None] = [*matrix.resolutions] if matrix.resolutions else [None]
    batches: list[int | None] = [*matrix.batches] if matrix.batches else [None]
    dtypes: list[str | None] = [*matrix.dtypes] if matrix.dtypes else [None]
    return [_Combo(*cell) for cell in itertools.product(explicit, resolutions, batches, dtypes)]


def _variant(spec: ModelSpec, combo: _Combo) -> ModelSpec:
    own = combo.explicit
    dtype = combo.dtype or own.dtype or spec.dtype
    inputs = _converted(_batched(_resized(own.inputs or spec.inputs, combo.resolution), combo.batch), dtype)
    facts = Variant(
        family=spec.name,
        id="-".join(combo.parts),
        resolution=combo.resolution or (None if own.kwargs else _image_size(inputs)),
        batch=combo.batch or _first_dim(inputs),
        dtype=dtype,
        group=_group(combo, inferred=combo.resolution is None and not own.kwargs and _image_size(inputs) is not None),
    )
    return dataclasses.replace(
        spec,
        name=f"{spec.name}[{facts.id}]",
        location=_location(spec, own),
        kwargs={**spec.kwargs, **(own.kwargs or {})},
        inputs=inputs,
        limits={**spec.limits, **own.limits},
        limit_lines={**spec.limit_lines, **own.limit_lines},
        tolerance={**spec.tolerance, **own.tolerance},
        floor={**spec.floor, **own.floor},
        profiles={**spec.profiles, **own.profiles},
        dtype=dtype,
        variant=facts,
        accuracy=own.accuracy if own.accuracy is not None else spec.accuracy,
    )


def _location(spec: ModelSpec, own: Overrides) -> Location:
    """An explicit variant's own line; the entry's for matrix variants."""
    if own.line is None:
        return spec.location
    return Location(spec.location.file, own.line, f"models.{spec.name}.variants.{own.id}")


def _group(combo: _Combo, inferred: bool) -> str:
    """The id without the part that sets the resolution: variants in one group differ only in it."""
    parts = list(combo.parts)
    if combo.resolution is not None:
        parts.remove(format_resolution(combo.resolution))
    elif inferred and combo.explicit.id is not None:
        parts.remove(combo.explicit.id)  # explicit variants with their own image size
    return "-".join(parts)


def _resized(inputs: InputsSpec, hw: tuple[int, int] | None) -> InputsSpec:
    if hw is None:
        return inputs
    return _mapped(inputs, lambda t: dataclasses.replace(t, shape=(*t.shape[:2], *hw)) if is_image(t) else t)


def _batched(inputs: InputsSpec, batch: int | None) -> InputsSpec:
    if batch is None:
        return inputs
    return _mapped(inputs, lambda t: dataclasses.replace(t, shape=(batch, *t.shape[1:])) if t.shape else t)


def _converted(inputs: InputsSpec, dtype: str | None) -> InputsSpec:
    """Floating inputs in the model's dtype (integer ids and masks stay as they are)."""
    if dtype is None:
        return inputs
    return _mapped(inputs, lambda t: dataclasses.replace(t, dtype=dtype) if t.dtype in SHORT_DTYPES else t)


def _mapped(inputs: InputsSpec, fn: Any) -> InputsSpec:
    return dataclasses.replace(
        inputs, args=tuple(fn(t) for t in inputs.args), kwargs=tuple((k, fn(t)) for k, t in inputs.kwargs)
    )


def _image_size(inputs: InputsSpec) -> tuple[int, int] | None:
    image = next((t for t in tensors(inputs) if is_image(t)), None)
    return (image.shape[2], image.shape[3]) if image is not None else None


def _first_dim(inputs: InputsSpec) -> int | None:
    first = next((t for t in tensors(inputs) if t.shape), None)
    return first.shape[0] if first is not None else None
