"""Whether a model entry's variant keys can apply to it: `resolutions:` needs a 4-D
floating-point input, `batch:` inputs given as shapes, `dtype:` a PyTorch model,
and a dtype is set in one place only (FG142, FG143, at the key's line)."""

from __future__ import annotations

import yaml

from pytest_flopguard.budget.nodes import Ctx
from pytest_flopguard.budget.schema import InputsSpec, ModelSpec, TensorSpec
from pytest_flopguard.budget.variant_parse import SHORT_DTYPES, Overrides


def check_applies(
    ctx: Ctx,
    spec: ModelSpec,
    fields: dict[str, yaml.Node],
    explicit: list[Overrides] | None,
    dtypes: list[str] | None,
) -> None:
    """Resolutions need 4-D floating inputs, batches shape inputs, dtypes a PyTorch model."""
    sources = [(o.inputs, f"variant {o.id!r}") for o in explicit or () if o.inputs is not None]
    if explicit is None or any(o.inputs is None for o in explicit):
        sources.insert(0, (spec.inputs, "the entry"))
    for key, needs in (("resolutions", _image_problem), ("batch", _shape_problem)):
        problems = [f"{whose} {problem}" for inputs, whose in sources if (problem := needs(inputs))]
        if key in fields and problems:
            ctx.error("FG143", fields[key], f"models.{spec.name}.{key}", f"{_WHAT[key]}, but {problems[0]}", _FIX[key])
    dtype_node = fields.get("dtype") or next((o.node for o in explicit or () if o.dtype), None)
    if spec.onnx is not None and dtype_node is not None:
        ctx.error(
            "FG143",
            dtype_node,
            f"models.{spec.name}.dtype",
            "`dtype` converts a PyTorch model's weights; an ONNX graph's types are fixed in the file",
            "export the graph in that dtype and budget it as its own model",
        )
    elif dtypes and any(o.dtype for o in explicit or ()):
        ctx.error(
            "FG142",
            fields["dtype"],
            f"models.{spec.name}.dtype",
            "`dtype` is a matrix axis here and also set in a variant",
            "set the dtype in one place: the `dtype:` list, or each variant's `dtype:`",
        )


_WHAT = {
    "resolutions": "`resolutions` resizes H and W of 4-D floating-point inputs (N, C, H, W)",
    "batch": "`batch` sets dim 0 of each input shape",
}
_FIX = {
    "resolutions": "give an image input such as [1, 3, 224, 224], or list the sizes as `variants:` with their own inputs",
    "batch": "give the inputs as shapes, or list the batch sizes as `variants:` with their own inputs",
}


def _shape_problem(inputs: InputsSpec) -> str | None:
    return "gets its inputs from a function" if inputs.factory is not None else None


def _image_problem(inputs: InputsSpec) -> str | None:
    if inputs.factory is not None:
        return "gets its inputs from a function"
    shapes = ", ".join(f"{list(t.shape)} {t.dtype}" for t in tensors(inputs))
    return None if any(is_image(t) for t in tensors(inputs)) else f"has only {shapes or 'no inputs'}"


def is_image(t: TensorSpec) -> bool:
    return len(t.shape) == 4 and t.dtype in SHORT_DTYPES


def tensors(inputs: InputsSpec) -> list[TensorSpec]:
    return [*inputs.args, *(t for _, t in inputs.kwargs)]
