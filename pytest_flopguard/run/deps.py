"""What a model's figures depend on, read statically: files, not imports.

A model depends on its ONNX file, or on its factory module (and its
`inputs:` function module): that file and every module it imports, directly
or through other modules within the budget's folder, read with `ast`. A
package's `__init__.py` counts as imported by its modules. A file whose
relative path one of those modules holds as a string (`"configs/net.yaml"`,
from the module's folder or the budget's) is a dependency too: factories read
their configs at build time. Used by change-only reuse (`run/reuse.py`) and
the pre-commit hook (`cli/precommit.py`); nothing here imports torch.
"""

from __future__ import annotations

import ast
import os
from functools import lru_cache
from pathlib import Path

from pytest_flopguard.budget.schema import ModelSpec


def depends_on(spec: ModelSpec, root: Path) -> frozenset[Path]:
    if spec.onnx is not None:
        return frozenset({(root / spec.onnx).resolve()})
    targets = [t for t in (spec.model, spec.inputs.factory) if t]
    found: set[Path] = set()
    for target in targets:
        found |= module_closure(root, target.partition(":")[0])
    return frozenset(found)


def module_closure(root: Path, module: str) -> frozenset[Path]:
    """Files under `root` that importing `module` runs (it, its packages, what they import) or that they name."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        for path in _files_of(root, name):
            if path not in seen:
                seen.add(path)
                imports, strings = _scan(path, _package_of(root, path), _stamp(path))
                todo.extend(imports)
                seen |= _named_files(strings, path.parent, root)
    return frozenset(seen)


def _files_of(root: Path, module: str) -> list[Path]:
    """The file of `module` under root, and the `__init__.py` of each package above it."""
    parts = module.split(".")
    found = []
    for depth in range(1, len(parts) + 1):
        base = root.joinpath(*parts[:depth])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                found.append(candidate.resolve())
                break
    return found


def _package_of(root: Path, path: Path) -> str:
    """The package a file's relative imports resolve against: its folder, as a dotted name."""
    return ".".join(path.relative_to(root).parent.parts)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return (stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4096)
def _scan(path: Path, package: str, stamp: tuple[int, int]) -> tuple[tuple[str, ...], frozenset[str]]:
    """What a file imports and the relative paths it holds as strings; parsed once per version of the file."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return (), frozenset()  # the measurement reports the error; selection stays quiet
    return _imports(tree, package), _path_strings(tree)


def _imports(tree: ast.Module, package: str) -> tuple[str, ...]:
    """Module names a file imports (absolute; `from x import y` also tries `x.y`)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            if base is not None:
                names.append(base)
                names.extend(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
    return tuple(n for n in names if n)


def _path_strings(tree: ast.Module) -> frozenset[str]:
    """Strings that may be relative file paths: literals, and the constant tails of
    `here / "configs" / "net.yaml"` and `os.path.join(here, "configs", "net.yaml")`."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            tail: list[ast.expr] = []
            while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _is_text(node.right):
                tail.insert(0, node.right)
                node = node.left
            found.add("/".join(_texts(tail)))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("join", "joinpath"):
            args = list(node.args)
            while args and not _is_text(args[0]):
                args.pop(0)
            if args and all(_is_text(a) for a in args):
                found.add("/".join(_texts(args)))
    return frozenset(s for s in found if _may_be_path(s))


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _texts(nodes: list[ast.expr]) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _may_be_path(text: str) -> bool:
    """Relative, one line, no spaces, with a folder or a suffix: `configs/net.yaml`, `widths.json`."""
    if not 0 < len(text) < 256 or text.startswith("/") or "://" in text or "\0" in text:
        return False
    return not any(c.isspace() for c in text) and ("/" in text or "." in text.strip("."))


def _named_files(strings: frozenset[str], folder: Path, root: Path) -> set[Path]:
    """Files under `root` that `strings` name, relative to the module's `folder` or to `root`."""
    found: set[Path] = set()
    for text in strings:
        for base in (folder, root):
            if not os.path.normpath(os.path.join(base, text)).startswith(str(root) + os.sep):
                continue  # leaves the budget's folder: not ours to track
            candidate = base / text
            try:
                if candidate.is_file() and candidate.resolve().is_relative_to(root):
                    found.add(candidate.resolve())
            except (OSError, ValueError):
                continue
    return found


def _absolute(module: str | None, level: int, package: str) -> str | None:
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None  # beyond the top: Python raises ImportError, nothing to follow
    anchor = parts[: len(parts) - (level - 1)]
    return ".".join([*anchor, *([module] if module else [])])
