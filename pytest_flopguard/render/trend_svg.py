"""A small line chart of one model's figure over recorded commits, for the HTML report.

The series comes from the history (`[(label, value), ...]`, oldest first, the
last one this change); this module only places it. Labels are untrusted
(commit subjects, tags): they are data here and the template escapes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_flopguard.budget.units import format_value
from pytest_flopguard.metrics import Kind

WIDTH, HEIGHT = 360.0, 90.0
PAD_X, PAD_Y = 8.0, 12.0


@dataclass(frozen=True)
class TrendPoint:
    x: float
    y: float
    label: str
    value: str  # formatted in the metric's unit


@dataclass(frozen=True)
class Trend:
    points: tuple[TrendPoint, ...]
    line: str  # the polyline's `points` attribute
    low: str
    high: str
    width: float = WIDTH
    height: float = HEIGHT


def trend_chart(series: Sequence[tuple[str, float]], kind: Kind) -> Trend | None:
    """The chart of `series`, or None when it has no finite value.

    >>> chart = trend_chart([("a1b2", 100.0), ("c3d4", 150.0)], "count")
    >>> chart.line, chart.low, chart.high
    ('8.0,78.0 352.0,12.0', '100', '150')
    """
    kept = [(str(label), float(value)) for label, value in series if math.isfinite(value)]
    if not kept:
        return None
    low, high = min(v for _, v in kept), max(v for _, v in kept)
    step = (WIDTH - 2 * PAD_X) / max(len(kept) - 1, 1)
    points = tuple(
        TrendPoint(
            x=round(PAD_X + i * step, 2),
            y=round(_y(value, low, high), 2),
            label=label,
            value=format_value(kind, value),
        )
        for i, (label, value) in enumerate(kept)
    )
    return Trend(
        points=points,
        line=" ".join(f"{p.x},{p.y}" for p in points),
        low=format_value(kind, low),
        high=format_value(kind, high),
    )


def _y(value: float, low: float, high: float) -> float:
    """Higher values higher up; a flat series runs through the middle."""
    if high == low:
        return HEIGHT / 2
    return HEIGHT - PAD_Y - (value - low) / (high - low) * (HEIGHT - 2 * PAD_Y)
