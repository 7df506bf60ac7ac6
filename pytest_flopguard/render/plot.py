"""`flopguard check --plot OUT.svg`: the efficiency trade-off as a hand-written SVG.

Left panel: FLOPs against parameters, one point per model or variant, both
axes logarithmic (models span decades). Right panel, when the budget gives an
`accuracy:` figure for some of them: accuracy against FLOPs, the picture a
team weighs before shipping a bigger variant. Variants of one family share a
colour and are joined by a line in the order of the x axis. No plotting
library: a few shapes, so the package needs nothing more and the file is the
same for the same results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from pytest_flopguard.budget.units import format_count, format_number
from pytest_flopguard.results import ModelResult, Results

WIDTH, HEIGHT = 480, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50
# Okabe-Ito: told apart with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


@dataclass(frozen=True)
class Point:
    name: str
    family: str
    flops: float
    params: float
    accuracy: float | None


@dataclass(frozen=True)
class _Axis:
    """Maps data to pixels between `start` and `end`, on a log10 or linear scale."""

    low: float
    high: float
    start: float
    end: float
    log: bool

    def __call__(self, value: float) -> float:
        lo, hi, v = (
            (math.log10(self.low), math.log10(self.high), math.log10(value))
            if self.log
            else (self.low, self.high, value)
        )
        return self.start + (v - lo) / (hi - lo) * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            return [10.0**e for e in range(round(math.log10(self.low)), round(math.log10(self.high)) + 1)]
        step = _nice_step((self.high - self.low) / 5)
        first = math.ceil(self.low / step)
        return [i * step for i in range(first, math.floor(self.high / step) + 1)]


def points_of(results: Results) -> tuple[list[Point], list[str]]:
    """The plottable models, and the names of those without figures (errors, zero counts)."""
    points, left_out = [], []
    for name, result in sorted(results.models.items()):
        point = _point(name, result)
        if point is None:
            left_out.append(name)
        else:
            points.append(point)
    return points, left_out


def _point(name: str, result: ModelResult) -> Point | None:
    flops, params = result.metrics.get("flops", 0), result.metrics.get("params", 0)
    if result.error is not None or flops <= 0 or params <= 0:
        return None
    family = result.variant.family if result.variant is not None else name
    return Point(name, family, float(flops), float(params), result.accuracy)


def render_plot(results: Results) -> str:
    """The SVG document: FLOPs vs params, and accuracy vs FLOPs where accuracies are given.

    >>> render_plot(read_results("flopguard-results.json"))  # doctest: +SKIP
    '<svg xmlns="http://www.w3.org/2000/svg" ...'
    """
    points, left_out = points_of(results)
    rated = [p for p in points if p.accuracy is not None]
    colours = {family: PALETTE[i % len(PALETTE)] for i, family in enumerate(dict.fromkeys(p.family for p in points))}
    panels = [
        _panel(
            "flops-params", points, colours, ("params", lambda p: p.params, True), ("FLOPs", lambda p: p.flops, True), 0
        )
    ]
    if rated:
        accuracy = ("accuracy", lambda p: p.accuracy or 0.0, False)
        panels.append(_panel("accuracy-flops", rated, colours, ("FLOPs", lambda p: p.flops, True), accuracy, WIDTH))
    width = WIDTH * len(panels)
    note = f"not plotted (no figures): {', '.join(left_out)}" if left_out else ""
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT + 20}" '
            f'viewBox="0 0 {width} {HEIGHT + 20}" font-family="sans-serif" font-size="11">',
            f'<rect width="{width}" height="{HEIGHT + 20}" fill="white"/>',
            *panels,
            f'<text x="8" y="{HEIGHT + 12}" fill="#555">{escape(note)}</text>' if note else "",
            "</svg>",
            "",
        ]
    )


Dimension = tuple[str, Callable[[Point], float], bool]  # label, value, log scale


def _panel(ident: str, points: Sequence[Point], colours: dict[str, str], x: Dimension, y: Dimension, left: int) -> str:
    if not points:
        return f'<g id="{ident}"><text x="{left + LEFT}" y="{TOP}">no models to plot</text></g>'
    xs = _axis([x[1](p) for p in points], left + LEFT, left + WIDTH - RIGHT, x[2])
    ys = _axis([y[1](p) for p in points], HEIGHT - BOTTOM, TOP, y[2])
    title = f"{y[0]} vs {x[0]}" + (" (log-log)" if x[2] and y[2] else " (FLOPs log)")
    shapes = [
        f'<g id="{ident}">',
        f'<text x="{left + LEFT}" y="{TOP - 16}" font-size="13" font-weight="bold">{title}</text>',
    ]
    shapes += _frame(xs, ys, x[0], y[0], x[2], y[2])
    for family in dict.fromkeys(p.family for p in points):
        members = sorted((p for p in points if p.family == family), key=x[1])
        if len(members) > 1:
            path = " ".join(f"{xs(x[1](p)):.1f},{ys(y[1](p)):.1f}" for p in members)
            shapes.append(
                f'<polyline points="{path}" fill="none" stroke={quoteattr(colours[family])} stroke-width="1.5"/>'
            )
    stacked: dict[tuple[int, int], int] = {}  # points at one spot (fp32 and bf16 variants): labels one under another
    for p in points:
        cx, cy = xs(x[1](p)), ys(y[1](p))
        nth = stacked[(round(cx), round(cy))] = stacked.get((round(cx), round(cy)), -1) + 1
        shapes.append(_dot(p, cx, cy, colours[p.family], nth))
    return "\n".join([*shapes, "</g>"])


def _dot(p: Point, cx: float, cy: float, colour: str, nth: int = 0) -> str:
    figures = f"{format_count(p.flops)}FLOPs, {format_count(p.params)} params"
    if p.accuracy is not None:
        figures += f", accuracy {format_number(p.accuracy, 4)}"
    label = p.name if len(p.name) <= 24 else p.name[:11] + "…" + p.name[-12:]
    return (
        f'<circle class="point" cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" fill={quoteattr(colour)} data-model={quoteattr(p.name)}>'
        f"<title>{escape(p.name)}: {escape(figures)}</title></circle>"
        f'<text x="{cx + 7:.1f}" y="{cy - 6 + 13 * nth:.1f}" fill="#333">{escape(label)}</text>'
    )


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least `raw`: ticks a reader can add up."""
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _axis(values: list[float], start: float, end: float, log: bool) -> _Axis:
    low, high = min(values), max(values)
    if log:  # whole decades around the data
        low, high = 10.0 ** math.floor(math.log10(low)), 10.0 ** math.ceil(math.log10(high))
        high = high * 10 if high == low else high
    else:
        pad = (high - low) * 0.1 or max(abs(high) * 0.05, 1.0)
        low, high = low - pad, high + pad
    return _Axis(low, high, start, end, log)


def _frame(xs: _Axis, ys: _Axis, x_label: str, y_label: str, x_log: bool, y_log: bool) -> list[str]:
    """Axes, grid lines at the ticks, tick labels and axis titles."""
    out = [
        f'<line x1="{xs.start}" y1="{ys.start}" x2="{xs.end}" y2="{ys.start}" stroke="#333"/>',
        f'<line x1="{xs.start}" y1="{ys.start}" x2="{xs.start}" y2="{ys.end}" stroke="#333"/>',
    ]
    for tick in xs.ticks():
        at = xs(tick)
        out.append(f'<line x1="{at:.1f}" y1="{ys.end}" x2="{at:.1f}" y2="{ys.start}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{at:.1f}" y="{ys.start + 14}" text-anchor="middle">{_tick(tick, x_log)}</text>')
    for tick in ys.ticks():
        at = ys(tick)
        out.append(f'<line x1="{xs.start}" y1="{at:.1f}" x2="{xs.end}" y2="{at:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{xs.start - 6}" y="{at + 4:.1f}" text-anchor="end">{_tick(tick, y_log)}</text>')
    middle_x, middle_y = (xs.start + xs.end) / 2, (ys.start + ys.end) / 2
    out.append(f'<text x="{middle_x:.1f}" y="{ys.start + 34}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(
        f'<text x="{xs.start - 52}" y="{middle_y:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 {xs.start - 52} {middle_y:.1f})">{escape(y_label)}</text>'
    )
    return out


def _tick(value: float, log: bool) -> str:
    return format_count(value) if log else format_number(value, 3)
