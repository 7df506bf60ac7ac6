"""Text of one table cell, shared by the terminal and Markdown renderers.

Renderers format a `Comparison`; they decide nothing. New and removed are
states, never +100%/-100%, and a zero base is not a division (STYLE 9).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_flopguard.budget.units import format_delta, format_number, format_percent, format_resolution, format_value
from pytest_flopguard.compare.diff import SEVERITY, Comparison, MetricDiff, ModelDiff, Verdict
from pytest_flopguard.compare.relaxed import Relaxation
from pytest_flopguard.compare.scaling import ScalingNote
from pytest_flopguard.metrics import metric_of

ICONS = {
    Verdict.OK: "✅",
    Verdict.IMPROVED: "🟢",
    Verdict.REGRESSED: "🔺",
    Verdict.OVER_LIMIT: "❌",
    Verdict.NEW: "🆕",
    Verdict.REMOVED: "➖",
    Verdict.ERROR: "💥",
    Verdict.NOT_RUN: "⏭️",
    Verdict.INCONCLUSIVE: "❔",
    Verdict.SKIPPED: "⏸️",
}

LATENCY_LEGEND = (
    "measured: wall time of one forward pass on this runner (median of many samples); "
    "estimated: a roofline from the counted FLOPs and bytes at a device profile's peak figures, "
    "a lower bound, not a measurement"
)


def value(row: MetricDiff, which: str) -> str:
    number = row.base if which == "base" else row.head
    return "—" if number is None else format_value(metric_of(row.key).kind, number)


def delta(row: MetricDiff) -> str:
    """`+220M (+17.9%)`; the state name where there is nothing to subtract."""
    if row.delta is None:
        return row.verdict.value if row.verdict in (Verdict.NEW, Verdict.REMOVED) else ""
    text = format_delta(metric_of(row.key).kind, row.delta)
    if row.change is not None and row.delta:
        text += f" ({format_percent(row.change, signed=True)})"
    return text


def limit(row: MetricDiff, relaxed: Relaxation | None = None) -> str:
    """`1.5G (97%)`: the limit and how much of it the head uses; `⚠️ was 1G` if the change raised it."""
    was = f"⚠️ was {setting_value(relaxed, relaxed.base)}" if relaxed is not None else ""
    if row.limit is None:
        return f"none {was}" if was else ""
    text = format_value(metric_of(row.key).kind, row.limit)
    share = row.share_of_limit
    text = f"{text} ({format_percent(share)})" if share is not None else text
    return f"{text} {was}" if was else text


def setting_value(item: Relaxation, number: float | None) -> str:
    """A limit or floor in its metric's unit, a tolerance in %, None as what it means."""
    if number is None:
        return "none" if item.setting == "limit" else "not gated"
    if item.setting == "tolerance":
        return format_percent(number)
    return format_value(metric_of(item.key).kind, number)


def relaxation_line(item: Relaxation) -> str:
    """`classifier: flops limit 600M → 900M`."""
    before, after = setting_value(item, item.base), setting_value(item, item.head)
    return f"{item.model}: {item.key} {item.setting} {before} → {after}"


def revisions(comparison: Comparison) -> str:
    """`base main 1a2b3c4d5e6f → head 9f8e7d6c5b4a (uncommitted changes)`, from the results' git facts."""
    if not comparison.has_base or not (comparison.base_git or comparison.head_git):
        return ""
    return f"base {_revision(comparison.base_git)} → head {_revision(comparison.head_git)}"


def _revision(git: Mapping[str, Any]) -> str:
    parts = [str(git[k]) if k != "commit" else str(git[k])[:12] for k in ("ref", "commit") if git.get(k)]
    if git.get("dirty"):
        parts.append("(uncommitted changes)")
    return " ".join(parts) or "?"


def error_line(model: ModelDiff) -> str:
    err = model.error
    if err is None:
        return ""
    where = f" at {err.where}" if err.where else ""
    code = f" [{err.code}]" if err.code else ""
    fix = f" — fix: {err.fix}" if err.fix else ""
    return f"{err.type}{where}: {err.message}{code}{fix}"


def headline(counts: dict[Verdict, int], passed: bool, dirty: bool = False) -> str:
    """`FAILED: 1 regressed, 1 over-limit, 3 ok`; measured with uncommitted changes, it says so."""
    parts = [f"{n} {v.value}" for v in SEVERITY if (n := counts.get(v, 0))]
    text = f"{'passed' if passed else 'FAILED'}: {', '.join(parts) or 'no models'}"
    return f"{text} (head has uncommitted changes)" if dirty else text


def headline_of(comparison: Comparison) -> str:
    return headline(dict(comparison.counts), comparison.passed, bool(comparison.head_git.get("dirty")))


def base_error_line(model: ModelDiff) -> str:
    """A base that could not be measured: the head is checked against its limits only."""
    err = model.base_error
    if err is None:
        return ""
    code = f" [{err.code}]" if err.code else ""
    return f"base could not be measured ({err.type}: {err.message}{code}); head checked against its limits only"


def metric_label(row: MetricDiff) -> str:
    """`latency.cpu (measured)` / `latency_estimate.t4 (estimated)`: never to be confused."""
    name = row.key.partition(".")[0]
    if name == "latency":
        return f"{row.key} (measured)"
    if name == "latency_estimate":
        return f"{row.key} (estimated)"
    return row.key


def latency_lines(model: ModelDiff) -> list[str]:
    """How each latency figure of a model was measured or estimated, and judged."""
    lines = []
    for row in model.metrics:
        name, _, device = row.key.partition(".")
        if name == "latency":
            lines.append(f"{row.key} measured: {_measured(model, device, row)}")
        elif name == "latency_estimate" and model.head is not None and device in model.head.estimate_basis:
            lines.append(f"{row.key} estimated: {model.head.estimate_basis[device]}")
    return lines


def history_lines(model: ModelDiff) -> list[str]:
    """What the recorded history says of each figure: drift since its reference, the ratchet."""
    return [f"{row.key}: {row.note}" for row in model.metrics if row.note and not row.key.startswith("latency")]


def _measured(model: ModelDiff, device: str, row: MetricDiff) -> str:
    if row.verdict == Verdict.SKIPPED:
        return f"skipped: {row.note}"
    stats = model.head.latency.get(device) if model.head is not None else None
    parts = []
    if stats is not None:
        env = stats.environment
        where = env.get("gpu") or env.get("cpu") or "?"
        parts.append(
            f"median {format_value('time', stats.median_s)}, "
            f"p10–p90 {format_value('time', stats.p10_s)}–{format_value('time', stats.p90_s)}, "
            f"{stats.samples} samples, {stats.threads} thread(s), {where}, torch {env.get('torch', '?')}"
        )
    if row.note:
        parts.append(row.note)
    return "; ".join(parts) or "measured"


def reused_line(comparison: Comparison, shown: int = 10) -> str | None:
    """`reused from base, unchanged inputs: 49 model(s) (a, b, ...)`: figures this run did not measure."""
    names = [m.name for m in comparison.models if m.head is not None and m.head.reused]
    if not names:
        return None
    listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
    return (
        f"reused from base, unchanged inputs: {len(names)} model(s) ({listed}); --flopguard-all / --all measures them"
    )


def scaling_line(note: ScalingNote) -> str:
    """`detector (bf16): FLOPs x4.6 from 640 to 1280, for x4 the pixels: ...` (the scaling check)."""
    family = f"{note.family} ({note.group})" if note.group else note.family
    sizes = f"from {format_resolution(note.small)} to {format_resolution(note.large)}"
    return (
        f"{family}: FLOPs ×{format_number(note.flops_ratio)} {sizes}, for ×{format_number(note.pixel_ratio)} the pixels: "
        "they grow faster than the pixel count, a sign of a resolution-dependent layer (e.g. global attention)"
    )
