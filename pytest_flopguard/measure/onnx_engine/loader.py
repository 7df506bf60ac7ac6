"""Load an ONNX file named in a budget without trusting it.

An ONNX file in a pull request is input from whoever opened it. Loading it:

* refuses a missing, empty or corrupt file, a Git LFS pointer checked out
  instead of the model, and a single-file model over protobuf's 2 GB limit,
  each with a message naming the model and the file;
* parses the graph only (``load_external_data=False``): counting needs
  shapes, never weight values, so external weight files are validated —
  inside the model's folder, no ``..``, no absolute path, no symbolic link
  that leads out, present and long enough — but not read;
* leaves ``onnx.checker`` and shape inference to a child process
  (``inference.py``).

Example::

    source = OnnxSource(Path("models/detector.onnx"), "detector", "models/detector.onnx")
    model = load_model(source)
"""

from __future__ import annotations

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
