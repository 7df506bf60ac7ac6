"""In the base process: the models' code must come from the base checkout.

An editable install of the head checkout (a `.pth` path, or setuptools'
import finder) resolves `import mypkg` to the head's files in every process,
so a base measured "in a worktree" could silently measure the head's code and
report no change. After each model is measured, the modules it loaded are
checked: one from the head checkout, or one loaded from elsewhere although
the base checkout has its own copy, marks the model's base result as an
error (FG410) that says how to fix the import path.
"""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pytest_flopguard.budget.schema import ModelSpec
from pytest_flopguard.results import SHADOWED_IMPORT, ErrorInfo


@dataclass(frozen=True)
class ImportGuard:
    """`checkout`: the base worktree; `head`: the head checkout whose code must not be measured."""

    checkout: Path
    head: Path | None = None

    def check(self, spec: ModelSpec, loaded: Iterable[str]) -> ErrorInfo | None:
        """The first module of `spec` that did not come from the base checkout, as an error.

        `loaded` are the modules imported while measuring it; the factories'
        own modules are always checked, since an earlier model may have
        imported them.
        """
        factories = [target.partition(":")[0] for target in (spec.model, spec.inputs.factory) if target]
        for name in dict.fromkeys([*factories, *loaded]):
            path = _file_of(name)
            if path is None or _inside(path, self.checkout) or name.partition(".")[0] == _TOOL:
                continue
            if self._from_head(path) or (name in factories and _base_copy(self.checkout, name) is not None):
                return self._error(spec, name, path)
        return None

    def _from_head(self, path: Path) -> bool:
        """In the head checkout, but not in an environment that lives there (`.venv/`)."""
        if self.head is None or not _inside(path, self.head):
            return False
        return not any(_inside(path, Path(folder)) for folder in _install_folders())

    def _error(self, spec: ModelSpec, name: str, path: Path) -> ErrorInfo:
        copy = _base_copy(self.checkout, name)
        root = copy.relative_to(self.checkout).as_posix() if copy is not None else None
        fix = (
            f"put the base's import root on the path so each checkout imports its own copy: "
            f"`PYTHONPATH={root or '.'}` (relative to the repository root), or move the budget file into {root}/"
            if root not in (None, ".")
            else "make the package importable from the budget file's folder, and install it (editable or not) "
            "only after the base is measured"
        )
        return ErrorInfo(
            SHADOWED_IMPORT,
            f"module {name!r} was imported from {path}, outside the base checkout: the base would measure "
            "the head's code (an editable install of the head shadows it)",
            "FG410",
            fix,
            str(spec.location),
        )


_TOOL = __name__.partition(".")[0]  # pytest_flopguard comes from its installation, on purpose


def _install_folders() -> set[str]:
    """Where installed packages and the standard library live: never the user's own code."""
    paths = sysconfig.get_paths()
    return {sys.prefix, sys.exec_prefix, sys.base_prefix, *(paths[k] for k in ("stdlib", "purelib", "platlib"))}


def _file_of(name: str) -> Path | None:
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    return Path(file).resolve() if isinstance(file, str) else None


def _inside(path: Path, folder: Path) -> bool:
    return path.is_relative_to(folder.resolve())


def _base_copy(checkout: Path, name: str) -> Path | None:
    """The import root in the base checkout that holds module `name`, if any.

    `a.b` is `a/b.py` or `a/b/__init__.py` under some folder of the checkout;
    a worktree holds tracked files only, so the walk is bounded by the repository.
    """
    parts = name.split(".")
    for rel in (Path(*parts[:-1], f"{parts[-1]}.py"), Path(*parts, "__init__.py")):
        for found in sorted(checkout.resolve().rglob(rel.as_posix())):
            return Path(*found.parts[: len(found.parts) - len(rel.parts)])
    return None
