"""`flopguard report --html DIR`: one self-contained page of where each model's work goes.

Per model: the headline figures base -> head with their verdicts, an icicle of
the module tree (MACs, params or memory traffic, switched by radio buttons in
CSS alone), base and head side by side on one scale with the modules that grew
marked (one picture where they are the same), the list of modules that moved, and, when the history gives one, a
trend line. No script, no network: the page's Content-Security-Policy allows
nothing but its own inline styles, and every model and module name (text from
a pull request) goes through jinja2's autoescaping.

    >>> page = render_html(compare(base, head))  # doctest: +SKIP
    >>> Path("report/index.html").write_text(page)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_flopguard.budget.units import format_delta, format_value
from pytest_flopguard.compare.diff import Comparison, ModelDiff
from pytest_flopguard.measure.types import FLOP_CONVENTION
from pytest_flopguard.metrics import Kind, metric_of
from pytest_flopguard.render import cells
from pytest_flopguard.render.icicle import (
    ROW,
    WIDTH,
    Cell,
    Describe,
    Node,
    depth_of,
    icicle,
    module_tree,
    sizes,
    statuses,
)
from pytest_flopguard.render.trend_svg import Trend, trend_chart

# The views of the icicle: metric key, the word in the page.
SHOWN = (("macs", "MACs"), ("params", "params"), ("memory_access", "memory traffic"))
MAX_CHANGES = 30

# A model's figure over recorded commits, oldest first: `[(commit or tag, value), ...]`.
Series = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class Side:
    name: str  # "base" or "head"
    caption: str
    cells: tuple[Cell, ...]
    height: float


@dataclass(frozen=True)
class View:
    metric: str
    sides: tuple[Side, ...]


@dataclass(frozen=True)
class Change:
    path: str
    type: str
    status: str
    macs: str
    params: str
    bytes: str


@dataclass(frozen=True)
class Row:
    metric: str
    base: str
    head: str
    delta: str
    verdict: str


@dataclass(frozen=True)
class ModelView:
    name: str
    anchor: str  # our own id, never the name: names are untrusted
    verdict: str
    rows: tuple[Row, ...]
    views: tuple[View, ...]
    changes: tuple[Change, ...]
    more_changes: int
    error: str
    base_error: str
    trend: Trend | None


def recorded_trends(comparison: Comparison) -> dict[str, Series]:
    """The FLOPs of the recorded commits the head's results carry, then this change's."""
    return {
        m.name: [*((p.label, p.flops) for p in m.head.trend), ("this change", m.head.metrics["flops"])]
        for m in comparison.models
        if m.head is not None and m.head.trend and "flops" in m.head.metrics
    }


def render_html(
    comparison: Comparison, trends: Mapping[str, Series] | None = None, trend_metric: str = "flops"
) -> str:
    """The whole page. `trends` (model name -> series of `trend_metric`) is drawn where given;
    by default, each model's recorded FLOPs (`ModelResult.trend`) and this change's."""
    import jinja2

    if trends is None:
        trends = recorded_trends(comparison)

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_flopguard", "render/templates"),
        autoescape=True,  # names come from pull requests: they must stay text
        trim_blocks=True,
        lstrip_blocks=True,
    )
    kind = metric_of(trend_metric).kind
    models = [
        model_view(i, m, trend_chart(trends[m.name], kind) if trends and m.name in trends else None)
        for i, m in enumerate(comparison.models)
    ]
    return env.get_template("report.html.j2").render(
        headline=cells.headline_of(comparison),
        passed=comparison.passed,
        revisions=cells.revisions(comparison),
        convention=FLOP_CONVENTION,
        has_base=comparison.has_base,
        shown=SHOWN,
        models=models,
        trend_metric=trend_metric,
        width=WIDTH,
    )


def model_view(index: int, model: ModelDiff, trend: Trend | None = None) -> ModelView:
    """One model's section, as data for the template."""
    keys = [key for key, _ in SHOWN]
    base = module_tree(model.base.modules, model.name, keys) if model.base is not None else None
    head = module_tree(model.head.modules, model.name, keys) if model.head is not None else None
    changes = _changes(base, head) if base and head else []
    return ModelView(
        name=model.name,
        anchor=f"model-{index}",
        verdict=model.verdict.value,
        rows=tuple(
            Row(r.key, cells.value(r, "base"), cells.value(r, "head"), cells.delta(r), r.verdict.value)
            for r in model.metrics
        ),
        views=tuple(_view(key, base, head) for key in keys if (base or head)),
        changes=tuple(changes[:MAX_CHANGES]),
        more_changes=max(0, len(changes) - MAX_CHANGES),
        error=cells.error_line(model),
        base_error=cells.base_error_line(model),
        trend=trend,
    )


def _view(metric: str, base: Node | None, head: Node | None) -> View:
    old, new = (sizes(base, metric) if base else None), sizes(head, metric)
    status = statuses(old, new) if base and head else {}
    scale = max(t.values[metric] for t in (base, head) if t is not None)
    describe = _describer(old or {}, new, metric, bool(base and head))
    same = old == new  # one picture where base and head would be the same: half the page, no noise
    sides = []
    for name, tree in (("base", None if same else base), ("head", head)):
        if tree is None:
            continue
        drawn = icicle(tree, metric, scale, status, describe)
        label = "base = head" if same else name
        caption = f"{label}: {_figure(metric, tree.own[metric] or tree.values[metric])}"
        if tree.own[metric] and tree.values[metric] > tree.own[metric]:
            caption += f" (the cells add up to {_figure(metric, tree.values[metric])}: a shared weight is drawn in each module)"
        sides.append(Side(name, caption, tuple(drawn), max(depth_of(drawn), 1) * ROW))
    return View(metric, tuple(sides))


def _figure(metric: str, value: int) -> str:
    """`196M MACs`, `309K params`, `20.2MB`."""
    text = format_value(metric_of(metric).kind, value)
    return {"macs": f"{text} MACs", "params": f"{text} params"}.get(metric, text)


def _describer(base: Mapping[str, int], head: Mapping[str, int], metric: str, pair: bool) -> Describe:
    kind = metric_of(metric).kind

    def describe(node: Node, _: str) -> str:
        what = f"{node.path or node.name}" + (f" ({node.type})" if node.type else "")
        if not pair:
            return f"{what}: {format_value(kind, node.values[metric])}"
        old, new = base.get(node.path), head.get(node.path)
        return f"{what}: {_move(kind, old, new)}"

    return describe


def _move(kind: Kind, old: int | None, new: int | None) -> str:
    """`18.9M → 37.7M (+18.9M)`; `new: 1.2M`; `removed (was 3M)`."""
    if old is None:
        return f"new: {format_value(kind, new or 0)}"
    if new is None:
        return f"removed (was {format_value(kind, old)})"
    if old == new:
        return format_value(kind, new)
    return f"{format_value(kind, old)} → {format_value(kind, new)} ({format_delta(kind, new - old)})"


def _changes(base: Node | None, head: Node | None) -> list[Change]:
    """The modules whose MACs, params or bytes moved, the largest MAC move first."""
    figures = {key: (sizes(base, key), sizes(head, key)) for key, _ in SHOWN}
    types = {**_types(base), **_types(head)}
    moved = []
    for path in sorted(set(figures["macs"][0]) | set(figures["macs"][1])):
        if not path:
            continue  # the model itself: its figures are the table
        deltas = [figures[k][1].get(path, 0) - figures[k][0].get(path, 0) for k, _ in SHOWN]
        present = (path in figures["macs"][0], path in figures["macs"][1])
        if any(deltas) or present != (True, True):
            moved.append((tuple(-abs(d) for d in deltas), path, _status(deltas, present)))
    moved.sort()
    return [
        Change(
            path,
            types.get(path, ""),
            status,
            *(_move(metric_of(k).kind, figures[k][0].get(path), figures[k][1].get(path)) for k, _ in SHOWN),
        )
        for _, path, status in moved
    ]


def _status(deltas: list[int], present: tuple[bool, bool]) -> str:
    if not present[0]:
        return "new"
    if not present[1]:
        return "removed"
    first = next(d for d in deltas if d)  # MACs decide, then params, then bytes
    return "grown" if first > 0 else "shrunk"


def _types(tree: Node | None) -> dict[str, str]:
    out: dict[str, str] = {}
    stack = [tree] if tree is not None else []
    while stack:
        node = stack.pop()
        out[node.path] = node.type
        stack.extend(node.children)
    return out
