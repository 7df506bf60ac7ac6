"""Text of one table cell, shared by the terminal and Markdown renderers.

Renderers format a `Comparison`; they decide nothing. New and removed are
states, never +100%/-100%, and a zero base is not a division (STYLE 9).
"""

from __future__ import annotations

from pytest_flopguard.budget.units import format_delta, format_percent, format_value
from pytest_flopguard.compare.diff import SEVERITY, MetricDiff, ModelDiff, Verdict
from pytest_flopguard.metrics import metric_of

ICONS = {
    Verdict.OK: "✅",
    Verdict.IMPROVED: "🟢",
    Verdict.REGRESSED: "🔺",
    Verdict.OVER_LIMIT: "❌",
    Verdict.NEW: "🆕",
    Verdict.REMOVED: "➖",
    Verdict.ERROR: "💥",
    Verdict.NOT_RUN: "⏭️",
}


def value(row: MetricDiff, which: str) -> str:
    number = row.base if which == "base" else row.head
    return "—" if number is None else format_value(metric_of(row.key).kind, number)


def delta(row: MetricDiff) -> str:
    """`+220M (+17.9%)`; the state name where there is nothing to subtract."""
    if row.delta is None:
        return row.verdict.value if row.verdict in (Verdict.NEW, Verdict.REMOVED) else ""
    text = format_delta(metric_of(row.key).kind, row.delta)
    if row.change is not None and row.delta:
        text += f" ({format_percent(row.change, signed=True)})"
    return text


def limit(row: MetricDiff) -> str:
    """`1.5G (97%)`: the limit and how much of it the head uses."""
    if row.limit is None:
        return ""
    text = format_value(metric_of(row.key).kind, row.limit)
    share = row.share_of_limit
    return f"{text} ({format_percent(share)})" if share is not None else text


def error_line(model: ModelDiff) -> str:
    err = model.error
    if err is None:
        return ""
    where = f" at {err.where}" if err.where else ""
    code = f" [{err.code}]" if err.code else ""
    fix = f" — fix: {err.fix}" if err.fix else ""
    return f"{err.type}{where}: {err.message}{code}{fix}"


def headline(counts: dict[Verdict, int], passed: bool) -> str:
    """`FAILED: 1 regressed, 1 over-limit, 3 ok`."""
    parts = [f"{n} {v.value}" for v in SEVERITY if (n := counts.get(v, 0))]
    return f"{'passed' if passed else 'FAILED'}: {', '.join(parts) or 'no models'}"
