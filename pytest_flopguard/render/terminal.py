"""The terminal table: one row per model and metric, aligned columns."""

from __future__ import annotations

from pytest_flopguard.budget.units import format_bytes, format_count, format_delta
from pytest_flopguard.compare.diff import Comparison, ModelDiff, Verdict
from pytest_flopguard.measure.types import FLOP_CONVENTION
from pytest_flopguard.render import cells
from pytest_flopguard.render.details import error_details
from pytest_flopguard.results import ModelResult

# ANSI colours of the verdict column on a terminal (never in CI logs).
_COLOURS = {"ok": "32", "improved": "32", "regressed": "31", "over-limit": "1;31", "error": "1;31"}


def render_table(comparison: Comparison, color: bool = False) -> list[str]:
    """Lines of the summary table, headline first; `color` paints the verdicts.

    >>> render_table(compare(None, results))  # doctest: +SKIP
    ['flopguard passed: 2 ok', 'model  metric  head  limit  verdict', ...]
    """
    header = ["model", "metric", "base", "head", "delta", "limit", "verdict"]
    if not comparison.has_base:
        header = [h for h in header if h not in ("base", "delta")]
    rows: list[list[str]] = []
    for model in comparison.models:
        rows.extend(_model_rows(model, comparison))
    lines = [f"flopguard {cells.headline_of(comparison)}"]
    if revisions := cells.revisions(comparison):
        lines.append(f"  {revisions}")
    lines += _relaxed(comparison)
    table = _aligned([header, *rows])
    lines += [table[0], *(_paint(line, row[-1]) if color else line for line, row in zip(table[1:], rows, strict=True))]
    for m in comparison.models:
        if m.error:
            lines += [f"  {m.name}: {cells.error_line(m)}", *error_details(m)]
    lines += [f"  {m.name}: {cells.base_error_line(m)}" for m in comparison.models if m.base_error]
    lines += _uncounted(comparison)
    lines += [f"  {m.name}: {note}" for m in comparison.models if m.head for note in m.head.notes]
    lines += [f"  {cells.scaling_line(note)}" for note in comparison.scaling]
    lines += [f"  {line}" for line in [cells.reused_line(comparison)] if line]
    lines += _module_changes(comparison)
    lines += [f"  {m.name}: {line}" for m in comparison.models for line in cells.latency_lines(m)]
    lines += [f"  {m.name}: {line}" for m in comparison.models for line in cells.history_lines(m)]
    return lines


def _module_changes(comparison: Comparison, top: int = 3) -> list[str]:
    """Which layers did it: per regressed or over-limit model with a base, the modules that grew most."""
    lines = []
    for model in comparison.models:
        if model.verdict in (Verdict.REGRESSED, Verdict.OVER_LIMIT) and (grown := _grown(model)):
            listed = ", ".join(_growth(path, macs, params) for macs, params, path in grown[:top])
            lines.append(f"  {model.name}: largest module changes: {listed}")
    return lines


def _grown(model: ModelDiff) -> list[tuple[int, int, str]]:
    """(MACs growth, params growth, path) of the modules that grew, most MACs first (inclusive figures)."""
    if model.base is None or model.head is None:
        return []
    base = {m.path: m for m in model.base.modules}
    grown = []
    for m in model.head.modules:
        old = base.get(m.path)
        growth = (m.macs - (old.macs if old else 0), m.params - (old.params if old else 0))
        if m.path and growth > (0, 0):  # the root is the table's row already
            grown.append((*growth, m.path))
    return sorted(grown, key=lambda g: (-g[0], -g[1], g[2]))


def _growth(path: str, macs: int, params: int) -> str:
    if macs:
        return f"{path} {format_delta('count', macs)} MACs"
    return f"{path} {format_delta('count', params)} params"


def _paint(line: str, verdict: str) -> str:
    """Colour the verdict at the end of an aligned row (after alignment: codes have no width)."""
    code = _COLOURS.get(verdict, "33")  # new, removed, not-run: yellow
    return f"{line[: len(line) - len(verdict)]}\x1b[{code}m{verdict}\x1b[0m"


def _relaxed(comparison: Comparison) -> list[str]:
    """Loud, above the table: a change that loosens its own budget must be seen."""
    if not comparison.relaxations:
        return []
    lines = [f"⚠️  BUDGET RELAXED by this change ({len(comparison.relaxations)}): review before merging"]
    return lines + [f"  ⚠️  {cells.relaxation_line(item)}" for item in comparison.relaxations]


def _model_rows(model: ModelDiff, comparison: Comparison) -> list[list[str]]:
    has_base = comparison.has_base
    if not model.metrics:
        return [[model.name, "", *([""] * (4 if has_base else 2)), model.verdict.value]]
    rows = []
    for i, row in enumerate(model.metrics):
        full = [
            model.name if i == 0 else "",
            cells.metric_label(row),
            cells.value(row, "base"),
            cells.value(row, "head"),
            cells.delta(row),
            cells.limit(row, comparison.relaxed_limit(model.name, row.key)),
            row.verdict.value,
        ]
        rows.append(full if has_base else [full[0], full[1], full[3], full[5], full[6]])
    return rows


def _uncounted(comparison: Comparison) -> list[str]:
    lines = []
    for model in comparison.models:
        ops = model.head.uncounted_ops if model.head else {}
        if ops:
            listed = ", ".join(f"{name} x{calls}" for name, calls in sorted(ops.items()))
            lines.append(f"  {model.name}: uncounted ops (no FLOP formula, not in the totals): {listed}")
    return lines


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def render_modules(name: str, result: ModelResult) -> list[str]:
    """`flopguard explain`: every module with its inclusive figures, as a tree."""
    header = ["module", "type", "calls", "params", "MACs", "FLOPs", "flops_other", "bytes"]
    rows = [header]
    for m in result.modules:
        depth = m.path.count(".") + 1 if m.path else 0
        label = ("  " * depth) + (m.path.rsplit(".", 1)[-1] if m.path else name)
        rows.append(
            [
                label,
                m.type,
                str(m.calls),
                format_count(m.params),
                format_count(m.macs),
                format_count(m.flops),
                format_count(m.flops_other),
                format_bytes(m.memory_access),
            ]
        )
    lines = _aligned(rows)
    if result.uncounted_ops:
        lines.append("uncounted ops: " + ", ".join(f"{op} x{n}" for op, n in sorted(result.uncounted_ops.items())))
    return [*lines, *_CONVENTION_LINES]


# What the columns count, and where a user comparing with another counter finds why they differ.
_CONVENTION_LINES = (
    f"convention: {FLOP_CONVENTION}",
    "per op family, and how it maps to fvcore, ptflops, thop, calflops and FlopCounterMode "
    "(bias adds and pooling in flops_other, 2 FLOPs per MAC): docs/conventions.md in pytest-flopguard",
)
