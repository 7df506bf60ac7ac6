"""`compare(base, head) -> Comparison`: the one place a verdict is decided.

Pure: no git, no files, no network. The plugin, the CLI and the Action all
render and exit on the `Comparison` this returns. Limits, tolerances and
floors come from the head results (each model's budget entry travels with its
figures), so two results files alone are enough to compare; the base's entry
is only read to show what the change relaxes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pytest_flopguard.compare.history import judged
from pytest_flopguard.compare.latency import latency_row
from pytest_flopguard.compare.relaxed import Relaxation, relaxations
from pytest_flopguard.compare.scaling import ScalingNote, scaling_notes
from pytest_flopguard.errors import ResultsError
from pytest_flopguard.metrics import floor_for, metric_of, sort_key, tolerance_for
from pytest_flopguard.results import SHADOWED_IMPORT, ErrorInfo, ModelResult, Results


class Verdict(str, Enum):
    OK = "ok"
    IMPROVED = "improved"
    REGRESSED = "regressed"
    OVER_LIMIT = "over-limit"
    NEW = "new"
    REMOVED = "removed"
    ERROR = "error"
    NOT_RUN = "not-run"
    INCONCLUSIVE = "inconclusive"  # latency: the interval straddles the tolerance; reported, not failing
    SKIPPED = "skipped"  # latency not measured here (no CUDA, --no-latency): reported, not failing


FAILING = frozenset({Verdict.REGRESSED, Verdict.OVER_LIMIT, Verdict.ERROR})
# Worst first: a model's verdict is its worst metric's.
SEVERITY = (
    Verdict.ERROR,
    Verdict.OVER_LIMIT,
    Verdict.REGRESSED,
    Verdict.INCONCLUSIVE,
    Verdict.NEW,
    Verdict.REMOVED,
    Verdict.NOT_RUN,
    Verdict.SKIPPED,
    Verdict.IMPROVED,
    Verdict.OK,
)


def worst(verdicts: list[Verdict]) -> Verdict:
    return min(verdicts, key=SEVERITY.index, default=Verdict.OK)


@dataclass(frozen=True)
class MetricDiff:
    key: str
    base: float | None
    head: float | None
    limit: float | None
    tolerance: float | None
    verdict: Verdict
    floor: float = 0.0
    note: str = ""  # why a latency row was judged as it was (interleaved ratio, another run, skipped)

    @property
    def delta(self) -> float | None:
        if self.base is None or self.head is None:
            return None
        return self.head - self.base

    @property
    def change(self) -> float | None:
        """Relative change; None where it is undefined (no base, zero base)."""
        delta = self.delta
        if delta is None or not self.base:
            return None
        return delta / self.base

    @property
    def share_of_limit(self) -> float | None:
        if self.limit is None or self.head is None or not self.limit:
            return None
        return self.head / self.limit


@dataclass(frozen=True)
class ModelDiff:
    name: str
    verdict: Verdict
    metrics: tuple[MetricDiff, ...]
    base: ModelResult | None
    head: ModelResult | None

    @property
    def error(self) -> ErrorInfo | None:
        """Why this model has no verdict: the head's error, or a base that measured head code."""
        if self.head is not None and self.head.error is not None:
            return self.head.error
        return self.base.error if self.base is not None and _shadowed(self.base) else None

    @property
    def base_error(self) -> ErrorInfo | None:
        """The base could not be measured (the head is then checked against its limits only)."""
        if self.base is None or self.base.error is None or self.error is not None:
            return None
        return self.base.error

    @property
    def failures(self) -> tuple[MetricDiff, ...]:
        return tuple(m for m in self.metrics if m.verdict in FAILING)

    @property
    def changed(self) -> bool:
        return any(m.delta for m in self.metrics) or self.verdict not in (Verdict.OK,)


@dataclass(frozen=True)
class Comparison:
    models: tuple[ModelDiff, ...]
    has_base: bool
    relaxations: tuple[Relaxation, ...] = ()
    base_git: Mapping[str, Any] = field(default_factory=dict)
    head_git: Mapping[str, Any] = field(default_factory=dict)
    # Resolution variants whose FLOPs outgrow their pixel count (`scaling.py`): noted, never failing.
    scaling: tuple[ScalingNote, ...] = ()

    @property
    def counts(self) -> Counter[Verdict]:
        return Counter(m.verdict for m in self.models)

    @property
    def config_errors(self) -> bool:
        return any(m.error is not None and m.error.type in ("BudgetError", SHADOWED_IMPORT) for m in self.models)

    def relaxed_limit(self, model: str, key: str) -> Relaxation | None:
        """The relaxation of this model's limit on `key`, if the change loosened it."""
        for item in self.relaxations:
            if (item.model, item.setting, item.key) == (model, "limit", key):
                return item
        return None

    @property
    def passed(self) -> bool:
        return not any(m.verdict in FAILING for m in self.models)

    @property
    def exit_code(self) -> int:
        """0 pass; 1 a limit exceeded, a regression or a broken model; 2 config error."""
        if self.config_errors:
            return 2
        return 0 if self.passed else 1

    @property
    def measured_exit_code(self) -> int:
        """For commands that measure without judging (`measure`, `baseline`): 0 every model
        measured; 1 a model that could not be; 2 config error."""
        if self.config_errors:
            return 2
        return 1 if any(m.head is not None and m.head.error for m in self.models) else 0


def compare(base: Results | None, head: Results) -> Comparison:
    """Diff head against base (or limits alone when there is no base).

    Models in the head's budget but not measured (`-k`, a shard) are
    `not-run`; models only in the base are `removed`; only in the head, `new`.
    Limits, tolerances and floors the head loosens are listed as relaxations.
    Results counted by another FLOP convention are refused, not diffed: the
    difference would be a convention, not a change (STYLE 2).
    """
    if base is not None and base.convention != head.convention:
        raise ResultsError(
            "FG204",
            f"the base results were counted with another FLOP convention ({base.convention!r}, "
            f"pytest-flopguard {base.tool_version}) than the head ({head.convention!r}, {head.tool_version})",
            fix="measure the base again with this version (e.g. `flopguard check --base REF --no-cache`)",
        )
    names = sorted(set(head.models) | set(head.budget_models) | set(base.models if base else ()))
    diffs = tuple(_model(name, base, head) for name in names)
    return Comparison(
        models=diffs,
        has_base=base is not None,
        relaxations=relaxations(base, head) if base is not None else (),
        base_git=dict(base.git) if base is not None else {},
        head_git=dict(head.git),
        scaling=scaling_notes(head),
    )


def _shadowed(result: ModelResult | None) -> bool:
    return result is not None and result.error is not None and result.error.type == SHADOWED_IMPORT


def _model(name: str, base: Results | None, head: Results) -> ModelDiff:
    old = base.models.get(name) if base else None
    new = head.models.get(name)
    if new is None:
        gone = base is not None and name not in head.budget_models
        verdict = Verdict.REMOVED if gone else Verdict.NOT_RUN
        return ModelDiff(name, verdict, _rows(old, None, verdict), old, None)
    if new.error is not None or _shadowed(old):
        return ModelDiff(name, Verdict.ERROR, (), old, new)
    usable_base = old if old is not None and old.error is None else None
    is_new = base is not None and old is None
    rows = _rows(usable_base, new, Verdict.NEW if is_new else None)
    return ModelDiff(name, worst([m.verdict for m in rows]), rows, old, new)


def _rows(old: ModelResult | None, new: ModelResult | None, fixed: Verdict | None) -> tuple[MetricDiff, ...]:
    keys = set(old.metrics if old else ()) | set(new.metrics if new else ()) | set(new.limits if new else ())
    return tuple(_row(key, old, new, fixed) for key in sorted(keys, key=sort_key))


def _row(key: str, old: ModelResult | None, new: ModelResult | None, state: Verdict | None) -> MetricDiff:
    """One metric's verdict; `state` (new, removed, not-run) applies unless a limit fails."""
    base = old.metrics.get(key) if old else None
    head = new.metrics.get(key) if new else None
    limit = new.limits.get(key) if new else None
    tolerance = tolerance_for(new.tolerance, key) if new else None
    floor = floor_for(new.floor, key) if new else 0.0
    decided = latency_row(key, base, head, limit, floor, old, new) if new and key.startswith("latency.") else None
    base = decided.base if decided else base
    verdict = Verdict(decided.verdict) if decided else _verdict(key, base, head, limit, tolerance, floor)
    note = decided.note if decided else ""
    if new is not None and new.history and head is not None and not decided:

        def regressed(reference: float, allowed: float | None) -> bool:
            return _verdict(key, reference, head, None, allowed, floor) is Verdict.REGRESSED

        after, note = judged(key, verdict.value, base, head, new, tolerance, regressed)
        verdict = Verdict(after)
    if state is not None and verdict not in FAILING:
        verdict = state
    return MetricDiff(key, base, head, limit, tolerance, verdict, floor, note)


def _verdict(
    key: str, base: float | None, head: float | None, limit: float | None, tolerance: float | None, floor: float
) -> Verdict:
    if head is None:
        return Verdict.REMOVED if base is not None else Verdict.OK
    if limit is not None and head > limit:
        return Verdict.OVER_LIMIT
    if base is None:
        return Verdict.OK
    if tolerance is not None and head > base * (1 + tolerance) and _past_floor(key, head - base, floor):
        return Verdict.REGRESSED
    return Verdict.IMPROVED if head < base else Verdict.OK


def _past_floor(key: str, delta: float, floor: float) -> bool:
    """Growth must exceed the floor too; deterministic counts compare exactly, times need a visible change."""
    return delta > max(floor, 0 if metric_of(key).deterministic else 1e-9)
