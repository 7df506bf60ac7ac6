"""Reading YAML nodes with file:line errors: the helpers every part of the budget loader uses.

`Ctx` carries the file's name and the errors found so far; each helper reads
one kind of node and reports what is wrong with it at the node's line and
key path, returning None so the caller can go on to the next value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pytest_flopguard.budget import units
from pytest_flopguard.errors import BudgetError, Location, did_you_mean


class Ctx:
    """Where we are in the file, and the errors found so far."""

    def __init__(self, display: str, loader: yaml.SafeLoader) -> None:
        self.display = display
        self.loader = loader
        self.errors: list[BudgetError] = []
        self.folder: Path | None = None  # the budget's folder: `onnx:` paths must stay in its repository

    def loc(self, node: yaml.Node, path: str) -> Location:
        return Location(self.display, node.start_mark.line + 1, path)

    def error(self, code: str, node: yaml.Node, path: str, message: str, fix: str) -> None:
        model = path.split(".")[1] if path.startswith("models.") and path.count(".") >= 1 else None
        self.errors.append(BudgetError(code, message, location=self.loc(node, path), fix=fix, model=model))


def node_text(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__.replace("Node", "").lower()


def mapping(
    ctx: Ctx, node: yaml.Node | None, path: str, allowed: tuple[str, ...] | None
) -> dict[str, yaml.Node] | None:
    """A mapping node as {literal key: value node}; unknown/duplicate keys are errors."""
    if not isinstance(node, yaml.MappingNode):
        if node is not None:
            ctx.error(
                "FG105", node, path, f"expected a mapping, got {node_text(node)!r}", "write `key: value` pairs here"
            )
        return None
    out: dict[str, yaml.Node] = {}
    lines: dict[str, int] = {}
    for key_node, value in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else node_text(key_node)
        sub = f"{path}.{key}" if path else key
        if key in out:
            ctx.error(
                "FG106",
                key_node,
                sub,
                f"duplicate key {key!r} (first at line {lines[key]})",
                "remove one of the two entries",
            )
            continue
        if allowed is not None and key not in allowed:
            _unknown_key(ctx, key_node, sub, key, allowed)
            continue
        out[key] = value
        lines[key] = key_node.start_mark.line + 1
    return out


def _unknown_key(ctx: Ctx, node: yaml.Node, path: str, key: str, allowed: tuple[str, ...]) -> None:
    guess = did_you_mean(key, allowed)
    hint = f"; did you mean {guess!r}?" if guess else ""
    fix = f"rename it to {guess!r}" if guess else f"use one of: {', '.join(allowed)}"
    ctx.error("FG107", node, path, f"unknown key {key!r}{hint}", fix)


def string(ctx: Ctx, node: yaml.Node, path: str, what: str) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.value:
        return str(node.value)
    ctx.error("FG108", node, path, f"expected {what}, got {node_text(node)!r}", f"write {what}")
    return None


def choice(ctx: Ctx, node: yaml.Node, path: str, choices: tuple[str, ...], code: str) -> str | None:
    """One of a few words (`build_on: cpu`), with a "did you mean" for a near miss."""
    text = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
    if text in choices:
        return text
    guess = did_you_mean(text, choices)
    hint = f"; did you mean {guess!r}?" if guess else ""
    ctx.error(code, node, path, f"{node_text(node)!r} is not one of {', '.join(choices)}{hint}", f"write one of: {', '.join(choices)}")
    return None


def quantity(ctx: Ctx, node: yaml.Node, path: str, parse: Callable[[object], Any]) -> Any:
    """Parse a scalar with a units parser, reporting UnitError at the node."""
    if not isinstance(node, yaml.ScalarNode):
        ctx.error(
            "FG109",
            node,
            path,
            f"expected a quantity, got {node_text(node)!r}",
            "write a number with its unit, e.g. 1.2G, 40MB, 25ms",
        )
        return None
    try:
        return parse(scalar(ctx, node))
    except units.UnitError as exc:
        ctx.error("FG109", node, path, exc.message, exc.fix)
        return None


def scalar(ctx: Ctx, node: yaml.ScalarNode) -> object:
    """A scalar as YAML 1.2 would read it: ints and floats, else the text."""
    text = node.value
    if node.style is None:  # plain (unquoted) scalar
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                pass
    return text


def parse_kwargs(ctx: Ctx, node: yaml.Node | None, path: str) -> dict[str, Any]:
    if node is None or mapping(ctx, node, path, None) is None:
        return {}
    value = ctx.loader.construct_object(node, deep=True)
    return dict(value)


def flow(node: yaml.Node) -> str:
    """A node as flow-style YAML text, for messages: `[1, 3, -32, 32]`."""
    if isinstance(node, yaml.SequenceNode):
        return "[" + ", ".join(flow(i) for i in node.value) + "]"
    return node_text(node)
