"""An icicle of a model's module tree: where its MACs, params or bytes go.

Each row is one depth of the tree; a module's cell is as wide as its share,
its children tile the row below from its left edge, and what is left under a
parent is the work it does itself (attention inside a block, an op called in
`forward`). Base and head are drawn on one scale, so a head that grew is wider.

The figures are the inclusive totals of the results file (`ModuleStats`). A
container that is never called itself (`nn.ModuleList`) has zero MACs though
its children have some, and a weight tied into two modules is counted in
each: a cell is therefore as wide as the larger of its own total and its
children's sum, so every child fits inside its parent.

Pure layout: cells are data (position, path, status), and the HTML template
writes them out, escaping every name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from pytest_flopguard.measure.types import ModuleStats

WIDTH = 600.0  # the SVG's user units; it scales to its column
ROW = 22.0
MAX_DEPTH = 8
MIN_WIDTH = 0.5  # thinner cells are not drawn (their share is in the parent)
CHAR = 6.2  # width of one character of the 11px label, for fitting labels


@dataclass(frozen=True)
class Node:
    path: str  # "" is the model itself
    name: str  # the last part of the path, or the model's name at the root
    type: str
    values: Mapping[str, int]  # metric -> its cell's size (see the module docstring)
    children: tuple[Node, ...]
    own: Mapping[str, int]  # metric -> the module's own inclusive total, as measured


# A module's hover text for one metric (the renderer knows the units).
Describe = Callable[["Node", str], str]


@dataclass(frozen=True)
class Cell:
    path: str
    label: str  # what fits inside the cell; may be ""
    title: str  # the hover text: full path, type, figure
    x: float
    y: float
    w: float
    h: float
    status: str  # "grown", "shrunk", "new", "removed" or ""
    depth: int


def module_tree(modules: Iterable[ModuleStats], root_name: str, metrics: Iterable[str]) -> Node | None:
    """The modules as a tree (a path's parent is its longest listed prefix), sized for `metrics`.

    >>> tree = module_tree([ModuleStats("", "Net", 1, 10, 5, 10, 0, 40),
    ...                     ModuleStats("fc", "Linear", 1, 10, 5, 10, 0, 40)], "net", ["macs"])
    >>> tree.children[0].path, tree.values["macs"]
    ('fc', 5)
    """
    stats = {m.path: m for m in modules}
    if not stats:
        return None
    kids: dict[str, list[str]] = {path: [] for path in stats}
    kids.setdefault("", [])
    for path in stats:
        if path:
            kids[_parent(path, stats)].append(path)
    return _build("", root_name, stats, kids, tuple(metrics))


def _parent(path: str, known: Mapping[str, object]) -> str:
    while "." in path:
        path = path.rsplit(".", 1)[0]
        if path in known:
            return path
    return ""


def _build(
    path: str, name: str, stats: Mapping[str, ModuleStats], kids: Mapping[str, list[str]], metrics: tuple[str, ...]
) -> Node:
    children = tuple(_build(p, p.rsplit(".", 1)[-1], stats, kids, metrics) for p in kids[path])
    found = stats.get(path)
    own = {m: int(getattr(found, m)) if found else 0 for m in metrics}
    values = {m: max(own[m], sum(c.values[m] for c in children)) for m in metrics}
    return Node(path, name, found.type if found else "", values, children, own)


def sizes(tree: Node | None, metric: str) -> dict[str, int]:
    """Path -> cell size for one metric, over the whole tree."""
    out: dict[str, int] = {}
    stack = [tree] if tree is not None else []
    while stack:
        node = stack.pop()
        out[node.path] = node.values[metric]
        stack.extend(node.children)
    return out


def statuses(base: Mapping[str, int] | None, head: Mapping[str, int]) -> dict[str, str]:
    """Path -> how the head's module compares with the base's (nothing without a base).

    >>> statuses({"a": 1, "b": 2, "c": 3}, {"a": 2, "b": 2, "d": 1})
    {'a': 'grown', 'd': 'new', 'c': 'removed'}
    """
    if base is None:
        return {}
    out: dict[str, str] = {}
    for path, value in head.items():
        if path not in base:
            out[path] = "new"
        elif value != base[path]:
            out[path] = "grown" if value > base[path] else "shrunk"
    out.update({path: "removed" for path in base if path not in head})
    return out


def icicle(
    tree: Node,
    metric: str,
    scale: float,
    status: Mapping[str, str],
    describe: Describe,
) -> list[Cell]:
    """The cells of one tree, `scale` (the larger side's total) filling WIDTH."""
    cells: list[Cell] = []
    if scale <= 0:
        return cells
    _place(tree, metric, 0.0, 0, WIDTH / scale, status, describe, cells)
    return cells


def _place(
    node: Node,
    metric: str,
    x: float,
    depth: int,
    per_unit: float,
    status: Mapping[str, str],
    describe: Describe,
    out: list[Cell],
) -> None:
    w = node.values[metric] * per_unit
    if w < MIN_WIDTH or depth >= MAX_DEPTH:
        return
    out.append(
        Cell(
            path=node.path,
            label=fit(node.name, w),
            title=describe(node, metric),
            x=round(x, 2),
            y=depth * ROW,
            w=round(w, 2),
            h=ROW - 2,
            status=status.get(node.path, ""),
            depth=depth,
        )
    )
    for child in node.children:
        _place(child, metric, x, depth + 1, per_unit, status, describe, out)
        x += child.values[metric] * per_unit


def fit(text: str, width: float) -> str:
    """`text`, shortened with an ellipsis to fit a cell `width` units wide; "" if not even 3 characters fit.

    >>> fit("shortcut", 200), fit("shortcut", 40), fit("shortcut", 10)
    ('shortcut', 'shor…', '')
    """
    room = int((width - 6) / CHAR)
    if room >= len(text):
        return text
    return text[: room - 1] + "…" if room >= 3 else ""


def depth_of(cells: Iterable[Cell]) -> int:
    """Rows the cells use (for the SVG's height)."""
    return max((c.depth + 1 for c in cells), default=0)
