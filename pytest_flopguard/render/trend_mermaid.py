"""A Mermaid line chart of one model's FLOPs over the last recorded commits, this pull request last.

The points come with the head's results (`ModelResult.trend`, from the
`flopguard-history` branch). Labels are tags or short SHAs, made safe as the
bar chart's are (`chart.chart_label`); the pull request's point is labelled
`this PR`. Only models whose FLOPs this change moves get one, at most
`MAX_TRENDS` of them, the largest moves first.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_flopguard.compare.diff import Comparison, ModelDiff
from pytest_flopguard.render.chart import chart_label, number, unit_for

MAX_TRENDS = 5
_COLOURS = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#2f81f7"}}}}%%'


@dataclass(frozen=True)
class Trend:
    model: str
    block: str
    points: int


def trend_charts(comparison: Comparison, limit: int = MAX_TRENDS) -> list[Trend]:
    moved = [m for m in comparison.models if _moved(m) and m.head is not None and m.head.trend]
    moved.sort(key=lambda m: -abs(_flops(m, "head") - _flops(m, "base")) / max(_flops(m, "base"), 1.0))
    return [_trend(m) for m in moved[:limit]]


def _trend(model: ModelDiff) -> Trend:
    assert model.head is not None
    points = [(chart_label(p.label, 14), p.flops) for p in model.head.trend]
    points.append(("this PR", _flops(model, "head")))
    scale, unit = unit_for(max(v for _, v in points))
    labels = ", ".join(f'"{label}"' for label, _ in points)
    values = ", ".join(number(v / scale) for _, v in points)
    top = number(max(v for _, v in points) / scale * 1.05)
    lines = [
        "```mermaid",
        _COLOURS,
        "xychart-beta",
        f'    title "{chart_label(model.name)}: FLOPs over the recorded commits ({unit})"',
        f"    x-axis [{labels}]",
        f'    y-axis "{unit}" 0 --> {top}',
        f"    line [{values}]",
        "```",
    ]
    return Trend(model.name, "\n".join(lines), len(points))


def _moved(model: ModelDiff) -> bool:
    return model.error is None and _flops(model, "head") != _flops(model, "base")


def _flops(model: ModelDiff, side: str) -> float:
    result = model.base if side == "base" else model.head
    if result is None or result.error is not None:
        return 0.0
    return float(result.metrics.get("flops", 0))
