"""Which module each ONNX node came from.

Both PyTorch exporters record it: the dynamo exporter in
``pkg.torch.onnx.name_scopes`` metadata (full module paths) and
``class_hierarchy`` (their types), the TorchScript exporter in node names
(``/layer1/layer1.0/conv1/Conv``; a second call of a module is
``/shared_1/...``). Other producers' ``/``-separated names are used as paths.
Totals are inclusive, ``""`` is the whole graph; a graph records no module
calls, so ``calls`` is the number of distinct scopes (1 for dynamo exports).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto

_SUFFIX = re.compile(r"(.+)_(\d+)")


class Scopes:
    """Module paths of nodes from the exporter's metadata or names (see the module docstring)."""

    def __init__(self, model: ModelProto) -> None:
        self.pytorch = model.producer_name == "pytorch"
        self.types: dict[str, str] = {"": ""}
        self.raw: dict[str, set[str]] = {}
        # Module paths named by parameters (`layer1.0.conv1.weight`) and by node names.
        self.initializers = {t.name for t in model.graph.initializer}
        # Module paths that parameter names spell out (`layer1.0.conv1.weight`).
        self.known = {name.rsplit(".", i)[0] for name in self.initializers for i in range(1, name.count(".") + 1)}
        self.seen = {p for node in model.graph.node for p in self._slashes(node.name, merge=False)}

    def of(self, node: NodeProto) -> list[str]:
        """Module paths of `node`, outermost first, without the root (call once per node)."""
        meta = {p.key: p.value for p in node.metadata_props}
        if "pkg.torch.onnx.name_scopes" in meta:
            paths = self._dynamo(meta)
            return self._fused_owner(node, paths) if "pkg.onnxscript.rewriter.rule_name" in meta else paths
        return self._slashes(node.name, merge=self.pytorch)

    def _fused_owner(self, node: NodeProto, paths: list[str]) -> list[str]:
        """A node fused by the exporter's optimizer keeps the metadata of the last op
        it replaced (Conv + BatchNorm carries the BatchNorm's): the module whose
        weight it reads, a sibling of that one, owns it."""
        for name in node.input[1:]:
            owner = name.rsplit(".", 1)[0] if name in self.initializers and "." in name else None
            if owner and paths and owner not in paths and _parent(owner) == _parent(paths[-1]):
                return [*paths[:-1], owner]
        return paths

    def calls(self, path: str) -> int:
        return max(1, len(self.raw.get(path, ())))

    def type_of(self, path: str) -> str:
        return self.types.get(path, "")

    def _dynamo(self, meta: Mapping[str, str]) -> list[str]:
        scopes = _literal_list(meta["pkg.torch.onnx.name_scopes"])
        classes = _literal_list(meta.get("pkg.torch.onnx.class_hierarchy", "[]"))
        if classes and not self.types[""]:
            self.types[""] = classes[0].rsplit(".", 1)[-1]
        paths: list[str] = []
        for i, path in enumerate(scopes[1:-1], start=1):  # '' is the root; the last is the op itself
            if path and path not in paths:
                paths.append(path)
                if len(classes) == len(scopes):
                    self.types.setdefault(path, classes[i].rsplit(".", 1)[-1])
        return paths

    def _slashes(self, name: str, merge: bool) -> list[str]:
        if "/" not in name:
            return []
        paths, path, parent, raw = [], "", "", ""
        for segment in name.strip("/").split("/")[:-1]:
            raw += "/" + segment
            candidate = self._join(path, parent, segment)
            match = _SUFFIX.fullmatch(segment)
            if merge and match and candidate not in self.known:
                base = self._join(path, parent, match[1])
                if base in self.seen:  # TorchScript names a module's second call `name_1`
                    candidate, segment = base, match[1]
            path, parent = candidate, segment
            paths.append(path)
            if merge:
                self.raw.setdefault(path, set()).add(raw)
        return paths

    def _join(self, path: str, parent: str, segment: str) -> str:
        """The module path of `segment` under `path` (whose own segment is `parent`).

        TorchScript names each called module by its qualified name from the
        last non-numeric atom on: layer1.0.conv1 is `conv1`, layer1.0 is
        `layer1.0`, so /layer1/layer1.0/conv1 is layer1 -> layer1.0 ->
        layer1.0.conv1. A child of an uncalled ModuleList reads the same as a
        numbered child (`layers.0` under `layers` is layers.0 or
        layers.layers.0): parameter names decide.
        """
        plain = f"{path}.{segment}" if path else segment
        if parent and segment.startswith(parent + "."):
            overlap = path + segment[len(parent) :]
            return plain if plain in self.known and overlap not in self.known else overlap
        return plain


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def _literal_list(text: str) -> list[str]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


