"""The Markdown report (pull request comment, job summary), from jinja2.

A hidden marker on the first line lets the commenter find and update its
earlier comment. No timestamps: unchanged results give an identical body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_flopguard.budget.units import format_bytes, format_count, format_delta
from pytest_flopguard.compare.diff import Comparison, ModelDiff, Verdict
from pytest_flopguard.measure.types import FLOP_CONVENTION, ModuleStats
from pytest_flopguard.render import cells

MARKER = "<!-- pytest-flopguard:report -->"
TOP_MODULES = 10


@dataclass(frozen=True)
class ModuleMove:
    path: str
    base_macs: str
    head_macs: str
    delta_macs: str
    params: str
    bytes: str


def escape(text: str) -> str:
    """Literal text in a Markdown table cell: no markup, no HTML, no @mentions."""
    text = re.sub(r"[\r\n\t]+", " ", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([\\`*_\[\]|#~])", r"\\\1", text)
    return text.replace("@", "@\u200b")  # a zero-width space keeps @name from pinging


def render_markdown(comparison: Comparison) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_flopguard", "render/templates"),
        autoescape=False,  # Markdown, not HTML: every cell goes through `escape`
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = escape
    template = env.get_template("report.md.j2")
    return template.render(
        marker=MARKER,
        comparison=comparison,
        passed=comparison.passed,
        headline=cells.headline_of(comparison),
        revisions=cells.revisions(comparison),
        convention=FLOP_CONVENTION,
        cells=cells,
        icons=cells.ICONS,
        details=[(m, _moves(m)) for m in comparison.models if _worth_detail(m)],
    )


def _worth_detail(model: ModelDiff) -> bool:
    if model.head is None or model.error:
        return False
    moved = model.verdict not in (Verdict.OK, Verdict.NOT_RUN)
    return moved or bool(model.head.uncounted_ops)


def _moves(model: ModelDiff) -> list[ModuleMove]:
    """The modules whose MACs, params or bytes moved most (or the largest, if new)."""
    head = {m.path: m for m in model.head.modules} if model.head else {}
    base = {m.path: m for m in model.base.modules} if model.base else {}
    paths = [p for p in set(head) | set(base) if p]  # the root row is the table above

    def weight(path: str) -> tuple[int, int, int]:
        h, b = head.get(path), base.get(path)
        return (
            abs(_get(h, "macs") - _get(b, "macs")) if base else _get(h, "macs"),
            abs(_get(h, "params") - _get(b, "params")),
            -len(path),
        )

    ranked = sorted(paths, key=weight, reverse=True)[:TOP_MODULES]
    return [_move(path, base.get(path), head.get(path), bool(base)) for path in ranked if weight(path)[:2] != (0, 0)]


def _get(stats: ModuleStats | None, name: str) -> int:
    return int(getattr(stats, name)) if stats is not None else 0


def _move(path: str, base: ModuleStats | None, head: ModuleStats | None, has_base: bool) -> ModuleMove:
    macs = (_get(base, "macs"), _get(head, "macs"))
    return ModuleMove(
        path=path,
        base_macs=format_count(macs[0]) if base else "—",
        head_macs=format_count(macs[1]) if head else "—",
        delta_macs=format_delta("count", macs[1] - macs[0]) if has_base else "",
        params=_pair(format_count, _get(base, "params"), _get(head, "params"), has_base),
        bytes=_pair(format_bytes, _get(base, "memory_access"), _get(head, "memory_access"), has_base),
    )


def _pair(fmt: object, old: int, new: int, has_base: bool) -> str:
    assert callable(fmt)
    if not has_base or old == new:
        return str(fmt(new))
    return f"{fmt(old)} → {fmt(new)}"
