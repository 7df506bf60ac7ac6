"""The ONNX checker and shape inference, in a child process.

Both are C++ that a crafted file can crash, and a crash must cost that model,
not the run: the child answers with every value's type and shape, or the
stage that failed, as the last line of its output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from pytest_flopguard.measure.onnx_engine.loader import OnnxSource, ValueType

CHILD_TIMEOUT_S = 300

# Runs with only onnx imported. Input: {"path", "shapes", "inlined"} on stdin;
# output: {"values": {name: [elem_type, dims | null]}} or {"stage", "error"}.
_CHILD = r"""
import json, sys
import onnx
from onnx import shape_inference
request = json.load(sys.stdin)
def answer(obj):
    sys.stdout.write("\n" + json.dumps(obj) + "\n")
    sys.exit(0)
try:
    onnx.checker.check_model(request["path"])
except Exception as exc:
    answer({"stage": "the ONNX checker rejected it", "error": f"{type(exc).__name__}: {exc}"})
model = onnx.load(request["path"], load_external_data=False)
if len(model.functions):
    import onnx.inliner
    model = onnx.inliner.inline_local_functions(model)
    onnx.save(model, request["inlined"])
# Shape inference needs no weight values: big ones become dangling external
# references, so they are not copied through the C++ boundary.
for tensor in model.graph.initializer:
    if len(tensor.raw_data) > 65536:
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value="(not loaded)")
for value in model.graph.input:
    if value.name in request["shapes"]:
        shape = value.type.tensor_type.shape
        shape.ClearField("dim")
        for size in request["shapes"][value.name]:
            shape.dim.add().dim_value = size
try:
    model = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
except Exception as exc:
    answer({"stage": "shape inference failed", "error": f"{type(exc).__name__}: {exc}"})
values = {}
for info in (*model.graph.input, *model.graph.value_info, *model.graph.output):
    if info.type.HasField("tensor_type"):
        t = info.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim] if t.HasField("shape") else None
        values[info.name] = [t.elem_type, dims]
answer({"values": values})
"""


def infer_shapes(
    source: OnnxSource, shapes: Mapping[str, tuple[int, ...]], inlined: Path | None = None
) -> dict[str, ValueType]:
    """Check the model and infer every value's type with `shapes` for its inputs, in a child process.

    If the model has local functions the child inlines them and saves the
    inlined model to `inlined` (the caller counts that one).
    """
    request = {"path": str(source.path), "shapes": {k: list(v) for k, v in shapes.items()}, "inlined": str(inlined)}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            env=_child_env(),
        )
    except subprocess.TimeoutExpired:
        raise source.refuse(
            "FG328",
            f"the ONNX checker and shape inference took over {CHILD_TIMEOUT_S} s",
            "check the file with onnx.checker.check_model(path); simplify it (onnxsim) if it is legitimately huge",
        ) from None
    return _answer(source, proc)


def _child_env() -> dict[str, str]:
    """The child finds onnx where this process found it."""
    import onnx

    where = str(Path(onnx.__file__).parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": where + (os.pathsep + path if path else "")}


def _answer(source: OnnxSource, proc: subprocess.CompletedProcess[str]) -> dict[str, ValueType]:
    fix = "check the file with onnx.checker.check_model(path) and onnx.shape_inference.infer_shapes; export it again"
    if proc.returncode != 0:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
        tail = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []
        detail = f": {tail[0][:300]}" if tail else ""
        raise source.refuse("FG328", f"the ONNX checker or shape inference crashed ({how}){detail}", fix)
    try:  # the answer is the last line: anything onnx printed comes before it
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise source.refuse("FG328", "the ONNX checker and shape inference gave no answer", fix) from None
    if "error" in answer:
        raise source.refuse("FG328", f"{answer['stage']}: {_first_line(answer['error'])}", fix)
    return {
        name: ValueType(int(t), None if dims is None else tuple(dims)) for name, (t, dims) in answer["values"].items()
    }


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    line = lines[0] if lines else text
    return line if len(line) <= 400 else line[:397] + "..."
