"""A Mermaid bar chart of base vs head FLOPs, for the pull request comment.

GitHub renders ```` ```mermaid ```` blocks in comments and job summaries. The
chart is an `xychart-beta`, drawn horizontally so that long model names stay
readable. xychart draws every bar series at the same slot (they overlap), so
each model gets two slots, `name base` and `name head`, and two series: the
base series has its figure in the base slots and 0 in the head slots, the head
series the reverse — paired bars in two colours.

Model names are user data inside a diagram: they are reduced to a safe
character set (no quote, backtick, `%`, `#`, `{`, `<`: nothing that could end
the string, the code block, or start a Mermaid directive or entity) and
shortened, keeping the end where a variant id lives. Numbers are plain
decimals (the grammar has no exponents). `tests/render/test_chart.py` checks the
output with Mermaid's own parser when node is available.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pytest_flopguard.budget.units import format_number
from pytest_flopguard.compare.diff import Comparison, ModelDiff

MAX_MODELS = 15  # 30 bars: the models whose FLOPs changed most
LABEL_CHARS = 28
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.:/()\[\]+=,-]")
# Base grey, head blue: readable on GitHub's light and dark themes (the default
# palette starts with a near-white). A fixed directive; names can never make one.
_COLOURS = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#9ca3af, #2f81f7"}}}}%%'
_UNITS = ((1e12, "TFLOPs"), (1e9, "GFLOPs"), (1e6, "MFLOPs"), (1e3, "kFLOPs"), (1.0, "FLOPs"))


@dataclass(frozen=True)
class Chart:
    """The fenced Mermaid block, and how many models it shows of how many it could."""

    block: str
    shown: int
    total: int


def flops_chart(comparison: Comparison, max_models: int = MAX_MODELS) -> Chart | None:
    """Base vs head FLOPs per model; None without a base or without FLOPs to draw.

    Up to `max_models` models are all drawn; of more, the ones whose FLOPs
    changed most (a new or removed model first), and none if none changed.

    >>> print(flops_chart(compare(base, head)).block)  # doctest: +SKIP
    ```mermaid
    %%{init: ...}%%
    xychart-beta horizontal
        title "FLOPs per model: base vs head (GFLOPs)"
        x-axis ["classifier base", "classifier head"]
        ...
    """
    if not comparison.has_base:
        return None
    drawn = [m for m in comparison.models if m.error is None and m.base_error is None]  # no bar reads as "0 FLOPs"
    points = [(m.name, _flops(m, "base"), _flops(m, "head")) for m in drawn]
    points = [p for p in points if p[1] or p[2]]
    if not points:
        return None
    ranked = sorted(range(len(points)), key=lambda i: _change(*points[i][1:]), reverse=True)
    if len(points) > max_models:  # many models: only those that changed, most first
        ranked = [i for i in ranked if points[i][1] != points[i][2]][:max_models]
    if not ranked:
        return None
    shown = [p for i, p in enumerate(points) if i in set(ranked)]  # in the table's order
    return Chart(_block(shown), len(shown), len(points))


def _flops(model: ModelDiff, side: str) -> float:
    result = model.base if side == "base" else model.head
    if result is None or result.error is not None:
        return 0.0
    return float(result.metrics.get("flops", 0))


def _change(base: float, head: float) -> tuple[float, float]:
    """Relative change first (a new or removed model ranks highest), then absolute."""
    relative = abs(head - base) / base if base else math.inf
    return relative, abs(head - base)


def _block(points: list[tuple[str, float, float]]) -> str:
    scale, unit = unit_for(max(max(b, h) for _, b, h in points))
    labels = _labels([name for name, _, _ in points])
    slots = [f'"{label} {side}"' for label in labels for side in ("base", "head")]
    base = [x for _, b, _ in points for x in (b / scale, 0.0)]
    head = [x for _, _, h in points for x in (0.0, h / scale)]
    top = number(max(max(base), max(head)) * 1.05)
    lines = [
        "```mermaid",
        _COLOURS,
        "xychart-beta horizontal",
        f'    title "FLOPs per model: base vs head ({unit})"',
        f"    x-axis [{', '.join(slots)}]",
        f'    y-axis "{unit}" 0 --> {top}',
        f"    bar [{', '.join(number(v) for v in base)}]",
        f"    bar [{', '.join(number(v) for v in head)}]",
        "```",
    ]
    return "\n".join(lines)


def unit_for(largest: float) -> tuple[float, str]:
    """GFLOPs for real models; smaller units where GFLOPs would read 0.00."""
    return next(((scale, unit) for scale, unit in _UNITS if largest >= scale), _UNITS[-1])


def number(value: float) -> str:
    """Four significant digits as a plain decimal (`1235`, `0.01235`): the grammar has no exponents."""
    return format_number(value, 4) if value > 0 else "0"


def chart_label(name: str, width: int = LABEL_CHARS) -> str:
    """A model name safe inside a quoted Mermaid string, at most `width` characters.

    >>> chart_label('evil"name`%%{init}%%')
    'evil_name____init___'
    >>> chart_label("zoo/very_long_model_family_name[1280-bf16]")
    'zoo/very_lon…name[1280-bf16]'
    """
    safe = _UNSAFE.sub("_", name).strip() or "_"
    if len(safe) <= width:
        return safe
    tail = width // 2 + 1  # the end holds the variant id: keep more of it
    return safe[: width - tail - 1] + "…" + safe[-tail:]


def _labels(names: list[str]) -> list[str]:
    """Safe labels, made unique again where shortening made two alike."""
    out: list[str] = []
    for name in names:
        label, n = chart_label(name), 1
        while label in out:
            n += 1
            label = f"{chart_label(name, LABEL_CHARS - 3)} {n}"
        out.append(label)
    return out
