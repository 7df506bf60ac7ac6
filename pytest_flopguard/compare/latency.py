"""The verdict of a `latency.<device>` row: never a wolf cried from noise.

Pure, like `diff.py`, which calls it. Latency is noisy, so unlike the
deterministic metrics it is never judged by subtracting two figures:

- an absolute limit applies to the head's median, as for any metric;
- growth is judged only by the decision of an interleaved base/head
  measurement in this job (`workers/latency_pair.py`), carried on the head's
  figures as `versus_base`: regressed / ok / inconclusive (reported, not failing);
- a base figure from another run (a baseline file, a cached base) is shown
  but never used to call a regression, and figures from different
  environments are not compared at all: the note says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pytest_flopguard.measure.types import LatencyStats, VersusBase
from pytest_flopguard.results import ModelResult

ANOTHER_RUN = (
    "base figure from another run: latency growth is judged only when base and head are measured "
    "interleaved in one job (--base); only the limit applies"
)


@dataclass(frozen=True)
class LatencyRow:
    verdict: str  # a `Verdict` value
    note: str
    base: float | None  # the base median the decision compared against


def latency_row(
    key: str,
    base: float | None,
    head: float | None,
    limit: float | None,
    floor: float,
    old: ModelResult | None,
    new: ModelResult,
) -> LatencyRow | None:
    """The verdict of one latency row, or None to apply the generic rule (nothing measured)."""
    device = key.partition(".")[2]
    if key in new.skipped:
        return LatencyRow("skipped", new.skipped[key], base)
    if head is None:
        return None
    stats = new.latency.get(device)
    versus = stats.versus_base if stats is not None else None
    if versus is not None:
        base = versus.base_median_s if versus.base_median_s is not None else base
    over = limit is not None and head > limit
    if versus is not None:
        verdict = "over-limit" if over else _decided(versus, head, base, floor)
        return LatencyRow(verdict, describe_versus(versus), base)
    if over:
        return LatencyRow("over-limit", "", base)
    if base is None:
        return LatencyRow("ok", "", base)
    return LatencyRow("ok", _unjudged(old.latency.get(device) if old else None, stats), base)


def _decided(versus: VersusBase, head: float, base: float | None, floor: float) -> str:
    if versus.verdict == "regressed":
        within_floor = base is not None and head - base <= floor
        return "ok" if within_floor else "regressed"
    if versus.verdict == "inconclusive":
        return "inconclusive"
    return "improved" if versus.high is not None and versus.high < 1 else "ok"


def _unjudged(old: LatencyStats | None, new: LatencyStats | None) -> str:
    differs = environment_difference(old.environment if old else {}, new.environment if new else {})
    if differs:
        return f"base and head ran in different environments ({differs}): not compared; only the limit applies"
    return ANOTHER_RUN


def environment_difference(base: Mapping[str, str], head: Mapping[str, str]) -> str:
    """`threads 1 → 2, torch 2.3.0 → 2.4.0`; empty when they match (or one side is unknown)."""
    if not base or not head:
        return ""
    keys = sorted(k for k in set(base) | set(head) if base.get(k) != head.get(k))
    return ", ".join(f"{k} {base.get(k, '?')} → {head.get(k, '?')}" for k in keys)


def describe_versus(versus: VersusBase) -> str:
    """`head/base 1.02 [0.99, 1.04] (95%), interleaved in this job: ok (tolerance 5%)`."""
    if versus.ratio is None or versus.low is None or versus.high is None:
        return f"interleaved in this job: {versus.verdict} ({versus.reason})"
    text = (
        f"head/base {versus.ratio:.3f} [{versus.low:.3f}, {versus.high:.3f}] ({versus.confidence:.0%}), "
        f"interleaved in this job: {versus.verdict} at tolerance {versus.tolerance:.1%}"
    )
    if versus.confirmed:
        text += ", confirmed in fresh processes"
    elif versus.confirmed is False:
        text += " (a first flag was not confirmed in fresh processes)"
    return text
