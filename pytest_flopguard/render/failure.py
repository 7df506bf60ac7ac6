"""The message of a failing model: every metric past its limit or tolerance."""

from __future__ import annotations

from pytest_flopguard.budget.units import format_percent, format_value
from pytest_flopguard.compare.diff import MetricDiff, ModelDiff, Verdict
from pytest_flopguard.metrics import metric_of
from pytest_flopguard.render import cells


def failure_message(model: ModelDiff, budget_file: str | None = None) -> str:
    """`classifier: flops 1.45G is over its limit 1K (flopguard.yaml:12)` and so on."""
    if model.error is not None:
        return f"{model.name}: could not be measured: {cells.error_line(model)}"
    lines = [f"{model.name}: {len(model.failures)} metric(s) failed"]
    lines += [f"  {_metric_line(row, model, budget_file)}" for row in model.failures]
    return "\n".join(lines)


def _metric_line(row: MetricDiff, model: ModelDiff, budget_file: str | None) -> str:
    kind = metric_of(row.key).kind
    head = format_value(kind, row.head or 0)
    if row.verdict == Verdict.OVER_LIMIT and row.limit is not None:
        text = f"{row.key} {head} is over its limit {format_value(kind, row.limit)} ({format_percent((row.head or 0) / row.limit) if row.limit else 'limit is 0'} of it)"
    else:
        tolerance = format_percent(row.tolerance or 0)
        text = f"{row.key} regressed: {format_value(kind, row.base or 0)} -> {head}, {cells.delta(row)}, tolerance {tolerance}"
    if row.note:
        text += f"; {row.note}"
    line = model.head.limit_lines.get(row.key) if model.head else None
    if line and budget_file:
        text += f" ({budget_file}:{line})"
    return text
