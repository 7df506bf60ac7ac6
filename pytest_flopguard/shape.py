"""The shape of a JSON document, declared once, and checked against untrusted data.

A results file crosses a trust boundary: the fork-safe comment job reads an
artifact that a pull request's code wrote. `check` walks a document against
its declared shape and stops at the first wrong field, naming its path:

    models.classifier.metrics.flops: expected a number, got "abc"

Shapes of the dataclasses a document is read into are derived from their
fields (`of_dataclass`), so the check and the reader cannot drift apart.

    >>> try:
    ...     check({"a": [1, "x"]}, Obj({"a": ListOf(Int())}))
    ... except ShapeError as exc:
    ...     print(exc)
    a[1]: expected an integer, got "x"
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ShapeError(ValueError):
    """A field of the wrong type; `path` is where (`models.m.metrics.flops`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or 'the document'}: {message}")
        self.path = path


@dataclass(frozen=True, kw_only=True)
class Node:
    nullable: bool = False


@dataclass(frozen=True, kw_only=True)
class Str(Node):
    pass


@dataclass(frozen=True, kw_only=True)
class Int(Node):
    pass


@dataclass(frozen=True, kw_only=True)
class Num(Node):
    """A finite int or float (JSON allows NaN and Infinity through Python's reader; we do not)."""


@dataclass(frozen=True, kw_only=True)
class Bool(Node):
    pass


@dataclass(frozen=True)
class ListOf(Node):
    item: Node
    length: int | None = None


@dataclass(frozen=True)
class MapOf(Node):
    """An object with keys chosen by the writer (model, device, op names)."""

    value: Node


@dataclass(frozen=True)
class Obj(Node):
    """An object with known keys. `closed`: other keys are an error (read with `**`)."""

    fields: Mapping[str, Node]
    required: frozenset[str] = field(default_factory=frozenset)
    closed: bool = False


@dataclass(frozen=True)
class Either(Node):
    """`then` when the object has the key `when`, else `otherwise` (a tagged union)."""

    when: str
    then: Obj
    otherwise: Obj


def nullable(node: Node) -> Node:
    return dataclasses.replace(node, nullable=True)


def of_dataclass(cls: type, closed: bool = True) -> Obj:
    """The shape of `dataclasses.asdict(instance)`: a field without a default is required."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: _of_type(hints[f.name]) for f in dataclasses.fields(cls)}
    required = frozenset(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return Obj(fields, required, closed)


_SCALARS: dict[Any, type[Node]] = {str: Str, int: Int, float: Num, bool: Bool}


def _of_type(hint: Any) -> Node:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return nullable(_of_type(inner))
    if hint in _SCALARS:
        return _SCALARS[hint]()
    if origin is tuple:
        return ListOf(_of_type(args[0]), None if args[-1] is Ellipsis else len(args))
    if origin in (Mapping, dict, typing.Mapping):
        return MapOf(_of_type(args[1]))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return of_dataclass(hint)
    raise TypeError(f"no JSON shape for {hint!r}")  # a new field type: declare its shape here


# --- checking ---------------------------------------------------------------------------


def check(value: Any, node: Node, path: str = "") -> None:
    """Raise `ShapeError` at the first field of `value` that `node` does not allow."""
    if value is None:
        if not node.nullable:
            raise ShapeError(path, f"expected {describe(node)}, got null")
        return
    if isinstance(node, Either):
        _expect(isinstance(value, dict), value, node, path)
        check(value, node.then if node.when in value else node.otherwise, path)
    elif isinstance(node, Obj):
        _check_obj(value, node, path)
    elif isinstance(node, MapOf):
        _expect(isinstance(value, dict), value, node, path)
        for key, item in value.items():
            check(item, node.value, join(path, key))
    elif isinstance(node, ListOf):
        _expect(isinstance(value, list) and node.length in (None, len(value)), value, node, path)
        for i, item in enumerate(value):
            check(item, node.item, f"{path}[{i}]")
    else:
        _expect(_scalar_ok(value, node), value, node, path)


def _check_obj(value: Any, node: Obj, path: str) -> None:
    _expect(isinstance(value, dict), value, node, path)
    missing = sorted(node.required - value.keys())
    if missing:
        raise ShapeError(join(path, missing[0]), "missing")
    if node.closed and (extra := sorted(value.keys() - node.fields.keys())):
        raise ShapeError(join(path, extra[0]), f"not a field here (expected one of: {', '.join(node.fields)})")
    for key, sub in node.fields.items():
        if key in value:
            check(value[key], sub, join(path, key))


def _scalar_ok(value: Any, node: Node) -> bool:
    if isinstance(node, Str):
        return isinstance(value, str)
    if isinstance(node, Bool):
        return isinstance(value, bool)
    if isinstance(value, bool):  # True is an int to Python, not a count to us
        return False
    if isinstance(node, Int):
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _expect(ok: bool, value: Any, node: Node, path: str) -> None:
    if not ok:
        raise ShapeError(path, f"expected {describe(node)}, got {_shown(value)}")


def describe(node: Node) -> str:
    text = {Str: "a string", Int: "an integer", Num: "a finite number", Bool: "true or false"}.get(type(node))
    if text is None and isinstance(node, ListOf):
        text = f"a list of {node.length}" if node.length is not None else "a list"
    text = text or "an object"
    return f"{text} or null" if node.nullable else text


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def join(path: str, key: str) -> str:
    """`models.classifier`, or `models["a b"]` for a key that is not a plain name."""
    if _PLAIN.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"
