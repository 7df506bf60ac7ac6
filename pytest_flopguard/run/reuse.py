"""Only measure what changed: reuse the base's figures of a model whose inputs did not change.

A model's deterministic figures (MACs, FLOPs, params, memory traffic, the
latency estimate) are a function of its inputs: the files its factory
imports within the budget's folder and the files those modules name by a
relative path in a string (read statically, as the pre-commit hook does:
`run.deps.module_closure`), its ONNX file, its budget entry (kwargs, input
shapes, dtype, limits), the torch version and this tool's counting rules.
`inputs_hash` digests them, paths relative to the budget's folder, so the base
measured in a worktree and the head agree when nothing changed. Every result
records its hash (`"inputs_hash"` in the results file); a run with a base whose
entry carries the same hash reuses its deterministic figures (`"reused": true`)
instead of building and running the model. Latency is never reused.

Not tracked: installed packages other than torch, and files whose paths the
model builds at run time (`f"cfg_{size}.json"`) - `--flopguard-all` /
`check --all` measures everything, e.g. on the default branch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import replace
from functools import cache, lru_cache
from pathlib import Path

from pytest_flopguard import __version__
from pytest_flopguard.budget.schema import ModelSpec
from pytest_flopguard.measure.types import FLOP_CONVENTION
from pytest_flopguard.results import SHADOWED_IMPORT, ModelResult

REUSED_NOTE = "reused from base, unchanged inputs"
# Where the entry is and how long it may take, not what it measures.
_ENTRY_SKIP = frozenset({"location", "limit_lines", "errors", "timeout"})


def inputs_hash(spec: ModelSpec, root: Path) -> str | None:
    """A digest of everything `spec`'s deterministic figures depend on; None: never reuse it."""
    from pytest_flopguard.run.deps import depends_on

    if spec.errors or (spec.model is None and spec.onnx is None):
        return None
    base = root.resolve()
    if not all(_inside(base, t.partition(":")[0]) for t in (spec.model, spec.inputs.factory) if t):
        return None  # imported from elsewhere (src/ on the path, an installed package): untracked, measure it
    digest = hashlib.sha256()
    entry = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name not in _ENTRY_SKIP}
    facts = {"entry": entry, "torch": _torch_version(), "tool": __version__, "convention": FLOP_CONVENTION}
    digest.update(json.dumps(facts, sort_keys=True, default=repr).encode())
    for path in sorted(depends_on(spec, base)):
        content = _file_digest(path)
        if content is None:
            return None  # missing: the measurement reports it
        digest.update(f"\0{path.relative_to(base).as_posix()}\0{content}\0".encode())
    return digest.hexdigest()


def _file_digest(path: Path) -> str | None:
    """A file's sha256, read in chunks and once per version per process (a named checkpoint can be big)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _digest(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _digest(path: Path, size: int, mtime_ns: int) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _inside(root: Path, module: str) -> bool:
    """Whether `module`'s own file lies under root, where the static import walk reads."""
    path = root.joinpath(*module.split("."))
    return (path / "__init__.py").is_file() or path.with_suffix(".py").is_file()


@cache
def _torch_version() -> str | None:
    """From the installed distribution: importing torch costs a second and a half."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def reusable(base: ModelResult | None, digest: str | None) -> bool:
    return (
        base is not None
        and digest is not None
        and base.inputs_hash == digest
        and base.error is None
        and bool(base.metrics)
    )


def reused(base: ModelResult, spec: ModelSpec, digest: str) -> ModelResult:
    """The base's deterministic figures as this run's, marked as reused."""
    from pytest_flopguard.metrics import metric_of

    def deterministic(key: str) -> bool:
        try:
            return metric_of(key).deterministic
        except KeyError:
            return False

    assert base.error is None or base.error.type != SHADOWED_IMPORT
    return replace(
        base,
        metrics={k: v for k, v in base.metrics.items() if deterministic(k)},
        latency={},
        skipped={k: v for k, v in base.skipped.items() if deterministic(k)},
        limit_lines=dict(spec.limit_lines),
        notes=(*(n for n in base.notes if n != REUSED_NOTE), REUSED_NOTE),
        output="",
        inputs_hash=digest,
        reused=True,
        seconds=None,
    )
