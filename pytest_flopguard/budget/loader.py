"""Read `flopguard.yaml` into a `Budget`, with file:line on every error.

The YAML is composed into nodes (safe loader, no object construction) and
walked by hand, so each value keeps its line and key path. Keys are read as
their literal text, so model names such as `no` or `on` stay strings
(YAML 1.1 would make them booleans). Errors inside one model entry are kept
on that entry and the other models stay usable; errors that concern the
whole file raise `BudgetError`.

This module walks the file and its top-level sections; each model entry is
read by `entries.py`, and the parts of an entry by `nodes.py` (the node
helpers), `limits.py`, `inputs.py`, `profiles.py` (`devices:`, `timing:`) and
`variants.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from pytest_flopguard.budget.entries import DEFAULT_KEYS, check_defaults, entries
from pytest_flopguard.budget.hardening import check_tree
from pytest_flopguard.budget.nodes import Ctx, mapping, node_text
from pytest_flopguard.budget.schema import Budget
from pytest_flopguard.errors import BudgetError, Location

SUPPORTED_VERSIONS = (1,)
TOP_KEYS = ("version", "defaults", "models", "devices")
MAX_BYTES = 1_000_000  # a budget file is hand-written; refuse anything huge fast


def load_budget(path: str | os.PathLike[str]) -> Budget:
    """Load and validate a budget file.

    >>> budget = load_budget("flopguard.yaml")  # doctest: +SKIP
    >>> budget.model("classifier").limits["flops"]  # doctest: +SKIP
    1200000000
    """
    path = Path(path)
    display = _display_name(path)
    text = _read(path, display)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # NUL and other control characters are refused on reading
        raise BudgetError(
            "FG101", f"not valid YAML: {str(exc).splitlines()[0]}", location=Location(display), fix="save it as text"
        ) from None
    try:
        root = _compose(loader, display)
        check_tree(root, display)  # tags, alias bombs, nesting: before anything reads a value
        ctx = Ctx(display, loader)
        ctx.folder = path.resolve().parent
        return _budget(ctx, root, path.resolve(), display)
    finally:
        loader.dispose()


def _display_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read(path: Path, display: str) -> str:
    fix = "create it, or point --flopguard-budget / --budget at your budget file"
    try:
        if path.stat().st_size > MAX_BYTES:
            raise BudgetError(
                "FG100",
                f"budget file is over {MAX_BYTES} bytes",
                location=Location(display),
                fix="a budget file lists models; split generated data out of it",
            )
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BudgetError("FG100", "budget file not found", location=Location(display), fix=fix) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BudgetError("FG100", f"cannot read budget file: {exc}", location=Location(display), fix=fix) from None


def _compose(loader: yaml.SafeLoader, display: str) -> yaml.Node:
    try:
        node = loader.get_single_node()
    except RecursionError:  # PyYAML composes recursively: thousands of `[` exhaust the stack
        raise BudgetError(
            "FG151", "nested too deeply to read", location=Location(display), fix="flatten the file"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise BudgetError(
            "FG101",
            f"not valid YAML: {exc.problem}",
            location=Location(display, line),
            fix="fix the YAML syntax at that line",
        ) from None
    if node is None:
        raise BudgetError(
            "FG101",
            "budget file is empty",
            location=Location(display),
            fix="start with `version: 1` and a `models:` mapping",
        )
    return node


def _budget(ctx: Ctx, root: yaml.Node, path: Path, display: str) -> Budget:
    top = mapping(ctx, root, "", TOP_KEYS)
    if ctx.errors or top is None:
        raise (
            ctx.errors[0]
            if ctx.errors
            else _fatal(
                ctx,
                root,
                "",
                "FG102",
                "the budget must be a mapping",
                "start with `version: 1` and a `models:` mapping",
            )
        )
    version = _version(ctx, top.get("version"), root)
    defaults_node = top.get("defaults")
    defaults = mapping(ctx, defaults_node, "defaults", DEFAULT_KEYS) if defaults_node else {}
    models_node = top.get("models")
    if models_node is None:
        raise _fatal(
            ctx, root, "models", "FG103", "missing `models:`", "add a `models:` mapping of model name -> entry"
        )
    models = mapping(ctx, models_node, "models", None)
    from pytest_flopguard.budget.devices import SHIPPED
    from pytest_flopguard.budget.profiles import parse_devices

    devices = parse_devices(ctx, top["devices"]) if "devices" in top else {}
    check_defaults(ctx, defaults or {})
    if ctx.errors:  # a broken version/defaults/models/devices section affects every model
        raise ctx.errors[0]
    assert models is not None and defaults is not None
    known = {**SHIPPED, **devices}
    specs = tuple(spec for name, node in models.items() for spec in entries(ctx, name, node, defaults, known))
    return Budget(path=path, display=display, version=version, models=specs, devices=devices)


def _fatal(ctx: Ctx, node: yaml.Node, path: str, code: str, message: str, fix: str) -> BudgetError:
    return BudgetError(code, message, location=ctx.loc(node, path), fix=fix)


def _version(ctx: Ctx, node: yaml.Node | None, root: yaml.Node) -> int:
    if node is None:
        raise _fatal(ctx, root, "version", "FG104", "missing `version:`", "add `version: 1` at the top of the file")
    if not isinstance(node, yaml.ScalarNode) or not node.value.isdigit():
        raise _fatal(
            ctx, node, "version", "FG104", f"version must be an integer, got {node_text(node)!r}", "write `version: 1`"
        )
    version = int(node.value)
    if version not in SUPPORTED_VERSIONS:
        raise _fatal(
            ctx,
            node,
            "version",
            "FG104",
            f"budget version {version} is not supported by this pytest-flopguard (supports {SUPPORTED_VERSIONS})",
            "upgrade pytest-flopguard, or write `version: 1`",
        )
    return version
