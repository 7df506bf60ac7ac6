"""A budget file is input from whoever opened the pull request: checks that keep it data.

`loader.py` calls these before and while it walks the file:
- `check_tree`: the composed node graph, before anything reads it. Only the
  standard YAML tags (no `!!python/object`, no `!custom`: a tag that would
  construct an object is an error naming it); aliases may not expand the
  file past a small multiple of its own size (the "billion laughs" bomb is
  refused in linear time, before anything expands it), nor refer to
  themselves; nesting is bounded.
- `check_target`: `model:` / `inputs:` references are dotted identifiers.
- `confine`: an `onnx:` path stays inside the repository (the nearest folder
  above the budget holding `.git`, else the budget's folder): absolute
  paths, and `..` or symbolic links that lead out, are refused.
- `check_shape`: a shape of more than 2^31 elements is refused.
- `parse_timeout`: `timeout: 5m`, a duration more than zero.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pytest_flopguard.budget import units
from pytest_flopguard.errors import BudgetError, Location

# Tags that implicit resolution produces, plus the explicit `!!str`/`!!int`/... spellings of them.
_STANDARD = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "merge")
}
MAX_DEPTH = 64  # a hand-written budget nests a handful of levels
MAX_EXPANSION = 10  # aliases may grow the node count at most this many times (plus `_SLACK`)
_SLACK = 10_000
MAX_ELEMENTS = 2**31  # a synthetic input bigger than this is a typo, not a model
_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_EXTRA_TIME = {"min": 60.0, "m": 60.0, "h": 3600.0}


@dataclass
class Work:
    """What `check_tree` did: one visit per reference to a node (each node is expanded once,
    then memoised), so a hostile file costs work linear in its text, whatever its aliases."""

    visits: int = 0


def check_tree(root: yaml.Node, display: str, work: Work | None = None) -> None:
    """Refuse object-constructing tags, alias bombs, self-referring aliases and deep nesting."""
    distinct: dict[int, int] = {}  # id(node) -> its expanded size
    expanded = _size(root, distinct, set(), 0, display, work or Work())
    if expanded > MAX_EXPANSION * len(distinct) + _SLACK:
        raise BudgetError(
            "FG151",
            f"aliases expand the file's {len(distinct)} values to {expanded if expanded < 10**12 else 'over 10^12'}",
            location=Location(display),
            fix="write the values out, or use fewer nested aliases (`*name`) of large anchors",
        )


def _size(node: yaml.Node, memo: dict[int, int], path: set[int], depth: int, display: str, work: Work) -> int:
    work.visits += 1
    if id(node) in memo:
        return memo[id(node)]
    where = Location(display, node.start_mark.line + 1)
    if id(node) in path:
        raise BudgetError(
            "FG151", "an alias refers to a collection that contains it", location=where, fix="remove the self-reference"
        )
    if depth > MAX_DEPTH:
        raise BudgetError("FG151", f"nested more than {MAX_DEPTH} levels deep", location=where, fix="flatten the file")
    if node.tag not in _STANDARD:
        raise BudgetError(
            "FG150",
            f"tag {node.tag!r} is not allowed: a budget file is plain data",
            location=where,
            fix="remove the tag; write the value as a plain string, number, list or mapping",
        )
    path.add(id(node))
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    total = 1 + sum(_size(child, memo, path, depth + 1, display, work) for child in children)
    path.discard(id(node))
    memo[id(node)] = min(total, 10**15)
    return memo[id(node)]


def check_target(text: str) -> bool:
    """`package.module:function` with identifiers only (no paths, spaces or calls)."""
    return bool(_TARGET.match(text))


def repository_root(folder: Path) -> Path:
    """The nearest folder at or above `folder` holding `.git`; else `folder` itself."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


def confine(raw: str, budget_folder: Path) -> str | None:
    """Why the `onnx:` path `raw` is refused, or None if it stays inside the repository."""
    if Path(raw).is_absolute() or re.match(r"^[A-Za-z]:[\\/]", raw):
        return f"{raw!r} is an absolute path"
    root = repository_root(budget_folder.resolve())
    target = (budget_folder / raw).resolve()  # follows symbolic links
    try:
        target.relative_to(root)
    except ValueError:
        how = "a symbolic link leads" if ".." not in Path(raw).parts else "`..` leads"
        return f"{raw!r} is outside the repository ({how} to {target})"
    return None


def check_shape(shape: tuple[int, ...]) -> str | None:
    """Why a synthetic input of `shape` is refused, or None."""
    elements = math.prod(shape)
    if elements > MAX_ELEMENTS:
        return f"a shape of {units.format_count(elements)} elements (over 2^31) cannot be a model input"
    return None


def parse_timeout(raw: object) -> float:
    """`5m`, `90s`, `1h` -> seconds; more than zero."""
    text = str(raw).strip()
    match = re.match(r"^(\d+(?:\.\d+)?)\s*(min|m|h)$", text)
    seconds = float(match.group(1)) * _EXTRA_TIME[match.group(2)] if match else units.parse_time(raw, "timeout")
    if not seconds > 0 or not math.isfinite(seconds):
        raise units.UnitError(f"timeout {raw!r} is not more than zero", "write a duration such as 5m or 90s")
    return seconds
