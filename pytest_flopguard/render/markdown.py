"""The Markdown report (pull request comment, job summary), from jinja2.

A hidden marker on the first line lets the commenter find and update its
earlier comment: one sticky comment per budget file. No timestamps:
unchanged results give an identical body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_flopguard.budget.units import format_bytes, format_count, format_delta
from pytest_flopguard.compare.diff import SEVERITY, Comparison, MetricDiff, ModelDiff, Verdict
from pytest_flopguard.measure.types import FLOP_CONVENTION, ModuleStats
from pytest_flopguard.render import cells
from pytest_flopguard.render.chart import MAX_MODELS, flops_chart
from pytest_flopguard.render.details import error_details
from pytest_flopguard.render.inert import Markdown, inert
from pytest_flopguard.render.trend_mermaid import trend_charts

MARKER = "<!-- pytest-flopguard:report -->"  # a budget at the repository root's (as before budgets had their own)
# The marker of a budget elsewhere; `marker_of` reads either back from a report's first line.
_KEYED = "<!-- pytest-flopguard:report budget={} -->"
_MARKER_LINE = re.compile(r"<!-- pytest-flopguard:report(?: budget=[A-Za-z0-9._/%-]{1,300})? -->")
MAX_CHARS = 65_536  # GitHub refuses longer comment bodies
TOP_MODULES = 10


@dataclass(frozen=True)
class ModuleMove:
    path: str
    base_macs: str
    head_macs: str
    delta_macs: str
    params: str
    bytes: str


def marker_for(budget: str | None) -> str:
    """The sticky comment's marker of a budget file, by its path in the repository.

    A monorepo's budgets (`packages/vision/flopguard.yaml`, `packages/text/flopguard.yaml`)
    each get their own comment on a pull request; a budget at the root keeps the
    marker of earlier versions, so their comment is still updated, not doubled. The
    path comes from the results file (a pull request's, in the fork-safe job): it is
    reduced to characters that cannot end the HTML comment.

    >>> marker_for("packages/vision/flopguard.yaml")
    '<!-- pytest-flopguard:report budget=packages/vision/flopguard.yaml -->'
    >>> marker_for("flopguard.yaml") == marker_for(None) == MARKER
    True
    """
    if not budget or "/" not in budget.strip("/"):
        return MARKER
    safe = re.sub(r"[^A-Za-z0-9._/-]", lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode()), budget)
    return _KEYED.format(safe[:300])


def marker_of(report: str) -> str | None:
    """The marker on the first line of a report, if it has one."""
    first = report.split("\n", 1)[0].strip()
    return first if _MARKER_LINE.fullmatch(first) else None


def render_markdown(comparison: Comparison, max_chars: int = MAX_CHARS) -> str:
    """The report, trimmed to `max_chars` (GitHub's comment limit) if needed.

    Detail goes first: the per-model module sections, then the table rows of
    models that did not change (summarised in one line). The marker, the
    headline and every changed or failing model's rows stay; the report says
    what was left out.
    """
    for plan in _PLANS:
        text = _render(comparison, plan)
        if len(text) <= max_chars:
            return text
    return _cut(_fit_rows(comparison, max_chars), max_chars)


_CUT_NOTE = "\n\n<sub>… cut here to fit GitHub's comment size limit; the results JSON and the job summary have everything.</sub>\n"


def _cut(text: str, max_chars: int) -> str:
    """Last resort (notes and error sections alone too long): cut at a line end."""
    if len(text) <= max_chars:
        return text
    head = text[: max_chars - len(_CUT_NOTE)]
    return head[: head.rfind("\n") if "\n" in head else len(head)] + _CUT_NOTE


@dataclass(frozen=True)
class _Plan:
    details: bool = True
    collapse_unchanged: bool = False
    max_rows: int | None = None  # last resort: table rows of changed models
    chart: bool = True  # the Mermaid FLOPs chart is detail too: it goes before any table row


# Ever less detail, until the report fits.
_PLANS = (
    _Plan(),
    _Plan(details=False),
    _Plan(details=False, chart=False),
    _Plan(details=True, collapse_unchanged=True),
    _Plan(details=False, collapse_unchanged=True),
    _Plan(details=False, collapse_unchanged=True, chart=False),
)


def _fit_rows(comparison: Comparison, max_chars: int) -> str:
    """Binary search for the most table rows that fit (failing models first)."""
    low, high = 0, sum(len(m.metrics) or 1 for m in comparison.models)
    best = _render(comparison, _Plan(details=False, collapse_unchanged=True, max_rows=0, chart=False))
    while low <= high:
        mid = (low + high) // 2
        text = _render(comparison, _Plan(details=False, collapse_unchanged=True, max_rows=mid, chart=False))
        if len(text) <= max_chars:
            best, low = text, mid + 1
        else:
            high = mid - 1
    return best


def _render(comparison: Comparison, plan: _Plan) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_flopguard", "render/templates"),
        autoescape=False,  # Markdown, not HTML: `inert` is the escaping, on every {{ }}
        finalize=inert,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    shown, unchanged = _table_models(comparison, plan.collapse_unchanged)
    pairs = [(m, row) for m in shown for row in (m.metrics or (None,))]
    keep: list[int] = list(range(len(pairs)))
    if plan.max_rows is not None and len(pairs) > plan.max_rows:
        worst_first = sorted(keep, key=lambda i: SEVERITY.index(pairs[i][0].verdict))  # failing models stay
        keep = sorted(worst_first[: plan.max_rows])
    rows, omitted_rows = [pairs[i] for i in keep], len(pairs) - len(keep)
    chart = flops_chart(comparison)
    details = [
        (m, moves) for m in comparison.models if _worth_detail(m) for moves in [_moves(m)] if moves or _remarks(m)
    ]
    crashes = {m.name: Markdown(block) for m in comparison.models if (block := _error_block(m))}
    return env.get_template("report.md.j2").render(
        marker=Markdown(marker_for(comparison.head_git.get("budget"))),
        comparison=comparison,
        passed=comparison.passed,
        headline=cells.headline_of(comparison),
        revisions=cells.revisions(comparison),
        convention=FLOP_CONVENTION,
        cells=cells,
        icons=cells.ICONS,
        rows=_first_of_model(rows),
        unchanged=unchanged,
        details=details if plan.details else [],
        crashes=crashes if plan.details else {},
        latency=[(m, lines) for m in comparison.models if (lines := cells.latency_lines(m))],
        history=[(m, lines) for m in comparison.models if (lines := cells.history_lines(m))],
        trends=[(trend.model, Markdown(trend.block)) for trend in trend_charts(comparison)] if plan.chart else [],
        trimmed=_trim_notes(
            0 if plan.details else len(details), 0 if plan.details else len(crashes), len(unchanged), omitted_rows
        )
        + (["the FLOPs chart"] if chart is not None and not plan.chart else []),
        chart=chart if plan.chart else None,
        chart_block=Markdown(chart.block) if chart is not None else None,
        max_chart=MAX_MODELS,
        scaling=[cells.scaling_line(note) for note in comparison.scaling],
        reused=cells.reused_line(comparison),
    )


def _table_models(comparison: Comparison, collapse: bool) -> tuple[list[ModelDiff], list[str]]:
    if not collapse:
        return list(comparison.models), []
    quiet = [m for m in comparison.models if m.verdict == Verdict.OK and not any(r.delta for r in m.metrics)]
    quiet_names = {m.name for m in quiet}
    return [m for m in comparison.models if m.name not in quiet_names], [m.name for m in quiet]


def _first_of_model(rows: list[tuple[ModelDiff, MetricDiff | None]]) -> list[tuple[ModelDiff, MetricDiff | None, bool]]:
    """Each row with whether it is its model's first (the model name is printed once)."""
    out, previous = [], None
    for model, row in rows:
        out.append((model, row, model is not previous))
        previous = model
    return out


def _trim_notes(details: int, crashes: int, unchanged: int, rows: int) -> list[str]:
    notes = []
    if details:
        notes.append(f"the module breakdown of {details} model(s)")
    if crashes:
        notes.append(f"the traceback and output of {crashes} failed model(s)")
    if unchanged:
        notes.append(f"the rows of {unchanged} unchanged model(s)")
    if rows:
        notes.append(f"{rows} more table row(s)")
    return notes


def _error_block(model: ModelDiff) -> str | None:
    """A failed model's own frames and printed output, as the terminal shows them, fenced.

    The fence is longer than any run of backticks in the text: what the
    model printed cannot close it and turn into markup or mentions.
    """
    lines = error_details(model)
    if not lines:
        return None
    body = "\n".join(line.removeprefix("    ") for line in lines)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def _remarks(model: ModelDiff) -> bool:
    """Uncounted ops or counting notes (a real run, a data-dependent count): worth a section."""
    return model.head is not None and bool(model.head.uncounted_ops or model.head.notes)


def _worth_detail(model: ModelDiff) -> bool:
    if model.head is None or model.error:
        return False
    return model.verdict not in (Verdict.OK, Verdict.NOT_RUN) or _remarks(model)


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
