"""What a change to the budget loosens: limits raised or dropped, tolerances and floors raised.

Pure, like the rest of compare: it reads the budget entries that travel with
the base and head results. A pull request that edits `flopguard.yaml` to let
its own growth through must show that edit beside the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from pytest_flopguard.metrics import floor_for, sort_key, tolerance_for
from pytest_flopguard.results import ModelResult, Results

Setting = Literal["limit", "tolerance", "floor"]


@dataclass(frozen=True)
class Relaxation:
    """One loosened setting. `head is None`: the limit was dropped, or growth is no longer gated."""

    model: str
    setting: Setting
    key: str
    base: float
    head: float | None


def relaxations(base: Results, head: Results) -> tuple[Relaxation, ...]:
    """Every limit, tolerance or floor of a model in both results that the head loosens.

    >>> relaxations(base, head)  # doctest: +SKIP
    (Relaxation(model='classifier', setting='limit', key='flops', base=6e8, head=9e8),)
    """
    found: list[Relaxation] = []
    for name in sorted(set(base.models) & set(head.models)):
        old, new = base.models[name], head.models[name]
        if new.error is not None and new.error.type == "BudgetError":
            continue  # a broken head entry is reported as an error, not as relaxed
        found += _model(name, old, new)
    return tuple(found)


def _model(name: str, old: ModelResult, new: ModelResult) -> Iterator[Relaxation]:
    for key in sorted(old.limits, key=sort_key):
        limit = new.limits.get(key)
        if limit is None or limit > old.limits[key]:
            yield Relaxation(name, "limit", key, old.limits[key], limit)
    yield from _loosened(name, "tolerance", old.tolerance, new.tolerance, tolerance_for)
    yield from _loosened(name, "floor", old.floor, new.floor, floor_for)


def _loosened(
    name: str,
    setting: Setting,
    old: Mapping[str, float],
    new: Mapping[str, float],
    effective: Callable[[Mapping[str, float], str], float | None],
) -> Iterator[Relaxation]:
    """Compare effective values (defaults included): a gated 0% tolerance raised to 5% is relaxed."""
    for key in sorted(set(old) | set(new), key=sort_key):
        before, after = effective(old, key), effective(new, key)
        if before is not None and (after is None or after > before):
            yield Relaxation(name, setting, key, before, after)
