"""A metric judged against the recorded history: the drift limit and the ratchet.

Pure, like the rest of `compare/`: the references (`ModelResult.history`, the
oldest and best recorded figures) travel with the head's results.

- **Drift** (`drift: {flops: 10%}`): growth of the head against the oldest
  recorded figure. Thirty pull requests of +1.9% under a 2% tolerance each
  pass, and together make +75%: past the drift limit, the metric regresses.
- **Ratchet** (`ratchet: true`): when the best recorded figure is below the
  base's (a saving merged since the branch was made), growth is judged
  against the best one, so the saving cannot be given back silently.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_flopguard.budget.units import format_percent, format_value
from pytest_flopguard.metrics import metric_of, setting_for
from pytest_flopguard.results import ModelResult

# Whether the head regresses against another reference figure with this much growth allowed
# (the floor still applies): the diff's own rule, handed in.
Regressed = Callable[[float, float | None], bool]


def judged(
    key: str,
    verdict: str,
    base: float | None,
    head: float,
    result: ModelResult,
    tolerance: float | None,
    regressed: Regressed,
) -> tuple[str, str]:
    """The row's verdict after the history, and what the history says about it (`""`: nothing)."""
    ref = result.history.get(key)
    if ref is None:
        return verdict, ""
    kind = metric_of(key).kind
    notes: list[str] = []
    # The ratchet holds a gated metric's growth to its tolerance; an ungated one has none to hold.
    if result.ratchet and tolerance is not None and ref.best < (base if base is not None else float("inf")):
        notes.append(
            f"ratchet: judged against {format_value(kind, ref.best)} at {ref.best_at}, the best recorded"
            + (f" (base {format_value(kind, base)})" if base is not None else "")
        )
        if regressed(ref.best, tolerance) and verdict != "over-limit":
            verdict = "regressed"
    drift = setting_for(result.drift, key)
    if drift is not None and ref.first > 0:
        total = head / ref.first - 1
        this_pr = f"{format_percent(head / base - 1, signed=True)} in this PR, " if base else ""
        notes.append(
            f"{this_pr}{total:+.2%} since {ref.first_at} "  # a creep is read in hundredths
            f"(drift limit {format_percent(drift)})"
        )
        if regressed(ref.first, drift) and verdict != "over-limit":
            verdict = "regressed"
    return verdict, "; ".join(notes)
