"""`flopguard pre-commit FILE...`: the deterministic checks the staged files can affect.

Which models a file can affect is decided without importing torch or the
models (`run/deps.py`): the budget file itself affects every model, any other
file the models that depend on it. When no model is affected the hook exits
0 at once, and torch is never imported.

Affected models are measured against their limits, deterministic metrics
only: latency limits are left out (a commit hook must be fast and must not
depend on how busy the laptop is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from pytest_flopguard.budget.schema import Budget, ModelSpec
from pytest_flopguard.metrics import metric_of
from pytest_flopguard.run.deps import depends_on

T = TypeVar("T")


def affected_models(budget: Budget, files: Iterable[Path]) -> list[str]:
    """Names of the models (budget order) that any of `files` can change."""
    changed = {f.resolve() for f in files}
    if budget.path.resolve() in changed:
        return [m.name for m in budget.models]
    root = budget.root.resolve()
    return [m.name for m in budget.models if changed & depends_on(m, root)]


def deterministic_only(budget: Budget, names: Sequence[str]) -> Budget:
    """The budget with only `names`, and without limits on noisy metrics (latency)."""
    keep = set(names)
    models = tuple(_without_noise(m) for m in budget.models if m.name in keep)
    return replace(budget, models=models)


def _without_noise(spec: ModelSpec) -> ModelSpec:
    return replace(
        spec,
        limits=_quiet(spec.limits),
        tolerance=_quiet(spec.tolerance),
        floor=_quiet(spec.floor),
        limit_lines=_quiet(spec.limit_lines),
    )


def _quiet(mapping: Mapping[str, T]) -> dict[str, T]:
    return {k: v for k, v in mapping.items() if _known_deterministic(k)}


def _known_deterministic(key: str) -> bool:
    try:
        return metric_of(key).deterministic
    except KeyError:
        return False
