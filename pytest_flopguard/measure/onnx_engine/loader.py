"""Load an ONNX file named in a budget without trusting it.

An ONNX file in a pull request is input from whoever opened it. Loading it:

* refuses a missing, empty or corrupt file, a Git LFS pointer checked out
  instead of the model, and a single-file model over protobuf's 2 GB limit,
  each with a message naming the model and the file;
* parses the graph only (``load_external_data=False``): counting needs
  shapes, never weight values, so external weight files are validated —
  inside the model's folder, no ``..``, no absolute path, no symbolic link
  that leads out, present and long enough — but not read;
* runs ``onnx.checker`` (by path, which also covers models over 2 GB) and
  shape inference in a child process: both are C++ that a crafted file can
  crash, and a crash must cost that model, not the run.

Example::

    source = OnnxSource(Path("models/detector.onnx"), "detector", "models/detector.onnx")
    model = load_model(source)
    shapes = infer_shapes(source, {"images": (1, 3, 640, 640)})
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from pytest_flopguard.errors import FlopguardError, Location

if TYPE_CHECKING:
    from onnx import GraphProto, ModelProto, TensorProto

# Protobuf cannot hold a message over 2 GiB: bigger models keep their weights
# in external data files.
MAX_INLINE_BYTES = 2**31
LFS_HEADER = b"version https://git-lfs.github.com/spec/v1"
LFS_POINTER_MAX = 1024  # pointer files are ~130 bytes
CHILD_TIMEOUT_S = 300
FIX_LFS = "fetch the LFS objects: run `git lfs pull`, or set `lfs: true` on actions/checkout in the workflow"

# Element type -> bits per element (onnx.TensorProto.DataType).
_BITS = {1: 32, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 9: 8, 10: 16, 11: 64, 12: 32, 13: 64, 14: 64, 15: 128}
_BITS |= {16: 16, 17: 8, 18: 8, 19: 8, 20: 8, 21: 4, 22: 4, 23: 4, 24: 8, 25: 2, 26: 2, 27: 6, 28: 6}

Dims = tuple[int | None, ...]


@dataclass(frozen=True)
class ValueType:
    """What shape inference knows of one value: element type and dims (None: unknown)."""

    elem_type: int
    dims: Dims | None  # None: not even the rank is known


@dataclass(frozen=True)
class OnnxSource:
    """An ONNX file and how to name it in messages."""

    path: Path  # absolute, or relative to the working directory
    model: str = ""  # the budget's model name
    display: str = ""  # the path as the budget writes it
    location: Location | None = None

    def refuse(self, code: str, what: str, fix: str) -> FlopguardError:
        head = f"model {self.model!r}: " if self.model else ""
        return FlopguardError(
            code, f"{head}{self.display or self.path}: {what}", fix=fix, location=self.location, model=self.model
        )


def nbytes(elem_type: int, numel: int) -> int:
    """Bytes of `numel` elements (sub-byte types packed); 0 for strings and unknown types."""
    return (_BITS.get(elem_type, 0) * numel + 7) // 8


def require_onnx(source: OnnxSource) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise source.refuse(
            "FG320",
            "counting an ONNX model needs the onnx package, which is not installed",
            "pip install 'pytest-flopguard[onnx]'",
        ) from None


# --- the file ---------------------------------------------------------------------


def load_model(source: OnnxSource) -> ModelProto:
    """The parsed graph (external data not loaded), or a FlopguardError saying why not."""
    require_onnx(source)
    size = _file_size(source)
    _check_head(source, size)
    if size > MAX_INLINE_BYTES:
        raise source.refuse(
            "FG325",
            f"is {size / 1e9:.1f} GB, over protobuf's 2 GB limit for a model stored in one file",
            "save the weights as external data: onnx.save(model, path, save_as_external_data=True)",
        )
    model = _parse(source)
    check_external_data(model, source)
    return model


def _file_size(source: OnnxSource) -> int:
    path = source.path
    if not path.exists():
        what = "is a symbolic link to a missing file" if path.is_symlink() else "not found"
        raise source.refuse(
            "FG321",
            what,
            "paths in `onnx:` are relative to the budget file's folder; check the path, and that the file is committed",
        )
    if not path.is_file():
        raise source.refuse("FG321", "is not a file", "point `onnx:` at an .onnx file")
    return path.stat().st_size


def _check_head(source: OnnxSource, size: int) -> None:
    if size == 0:
        raise source.refuse(
            "FG322",
            "is empty (0 bytes)",
            "export the model again; if it is stored with Git LFS, " + FIX_LFS,
        )
    if size <= LFS_POINTER_MAX and _is_lfs_pointer(source.path):
        raise source.refuse("FG323", f"is a Git LFS pointer ({size} bytes), not the model", FIX_LFS)


def _is_lfs_pointer(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(len(LFS_HEADER)) == LFS_HEADER


def _parse(source: OnnxSource) -> ModelProto:
    import onnx

    fix = "the file is damaged or not ONNX: export it again, and check it with onnx.checker.check_model(path)"
    try:
        model = onnx.load(str(source.path), load_external_data=False)
    except OSError as exc:
        raise source.refuse(
            "FG321", f"cannot be read ({exc.strerror or exc})", "check the file's permissions"
        ) from None
    except Exception as exc:  # protobuf's DecodeError, or whatever else a damaged file makes onnx raise
        raise source.refuse("FG324", f"is not a valid ONNX model ({type(exc).__name__}: {exc})", fix) from None
    # Protobuf accepts many byte strings as a message with unknown fields only.
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise source.refuse("FG324", "is not a valid ONNX model (no IR version or no graph)", fix)
    return model


# --- external data ------------------------------------------------------------------


def external_tensors(model: ModelProto) -> Iterator[TensorProto]:
    """Every tensor of the model stored outside it: initializers, attributes, subgraphs, functions."""
    external = 1  # TensorProto.EXTERNAL
    for tensor in _all_tensors(model):
        if tensor.data_location == external:
            yield tensor


def _all_tensors(model: ModelProto) -> Iterator[TensorProto]:
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _attribute_tensors(node.attribute)


def _graph_tensors(graph: GraphProto) -> Iterator[TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _attribute_tensors(node.attribute)


def _attribute_tensors(attributes: Any) -> Iterator[TensorProto]:
    for attr in attributes:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g)
        for graph in attr.graphs:
            yield from _graph_tensors(graph)


def check_external_data(model: ModelProto, source: OnnxSource) -> None:
    """Every external-data reference stays inside the model's folder and fits its file."""
    folder = source.path.absolute().parent
    sizes: dict[str, int] = {}
    for tensor in external_tensors(model):
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        if location not in sizes:
            sizes[location] = _external_file_size(source, folder, tensor.name, location)
        _check_extent(source, tensor, info, sizes[location])


def _external_file_size(source: OnnxSource, folder: Path, tensor: str, location: str) -> int:
    where = f"tensor {tensor!r} keeps its data in {location!r}"
    inside = "external data must sit in the model's folder or below it: save it again with a relative location"
    if not location:
        raise source.refuse("FG327", f"tensor {tensor!r} is marked external but names no file", "export it again")
    parts = (PurePosixPath(location), PureWindowsPath(location))
    if any(p.is_absolute() or p.drive or p.root for p in parts):
        raise source.refuse("FG326", f"{where}, an absolute path", inside)
    if any(".." in p.parts for p in parts):
        raise source.refuse("FG326", f"{where}, outside the model's folder", inside)
    path = folder / location
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise source.refuse("FG326", f"{where}, a symbolic link that leads outside the model's folder", inside)
    if not resolved.is_file():
        raise source.refuse("FG327", f"{where}, which does not exist", "commit the external data file beside the model")
    size = resolved.stat().st_size
    if size <= LFS_POINTER_MAX and _is_lfs_pointer(resolved):
        raise source.refuse("FG323", f"{where}, which is a Git LFS pointer ({size} bytes), not the data", FIX_LFS)
    return size


def _check_extent(source: OnnxSource, tensor: TensorProto, info: Mapping[str, str], file_size: int) -> None:
    try:
        offset = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise source.refuse(
            "FG327", f"tensor {tensor.name!r} has a malformed external-data offset or length", "export it again"
        ) from None
    needed = nbytes(tensor.data_type, _numel(tensor.dims))
    length = needed if length is None else length
    if offset < 0 or length < needed or offset + length > file_size:
        raise source.refuse(
            "FG327",
            f"tensor {tensor.name!r} needs bytes {offset}..{offset + max(length, needed)} of "
            f"{info.get('location')!r}, which holds {file_size} bytes",
            "the external data file is truncated or belongs to another export: export the model again",
        )


def _numel(dims: Any) -> int:
    total = 1
    for d in dims:
        total *= int(d)
    return total


def tensor_values(tensor: TensorProto, source: OnnxSource) -> Any:
    """The values of one tensor as a numpy array (external data already validated)."""
    from onnx import numpy_helper

    return numpy_helper.to_array(tensor, base_dir=str(source.path.absolute().parent))


# --- checker and shape inference, in a child process ------------------------------------

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
