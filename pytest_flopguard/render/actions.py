"""GitHub Actions output: annotations, and untrusted text made inert.

The runner treats any output line that starts with `::` (after leading
whitespace) as a workflow command. Model names, error messages and what a
factory prints come from the repository — from a fork, in a pull request —
so every line we print passes through `neutralise`, and the only commands
in our output are the annotations built here.
"""

from __future__ import annotations

from pytest_flopguard.budget.units import format_value
from pytest_flopguard.compare.diff import Comparison, Verdict
from pytest_flopguard.metrics import metric_of

MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step
_COMMANDS = ("::", "##[")
_INERT = "\u200b"  # a zero-width space: not whitespace to the runner, invisible to people


def neutralise(text: str) -> str:
    """Make every line that would be a workflow command plain text: `::cmd::` and the
    older `##[cmd]` spelling that the runner still honours. `\r` and other line
    breaks the runner splits on are line breaks here too."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(_INERT + line if line.lstrip().startswith(_COMMANDS) else line for line in lines)


def error_annotations(comparison: Comparison, budget_file: str) -> list[str]:
    """`::error file=flopguard.yaml,line=13,title=...::...` for each metric over its limit."""
    out = []
    for model in comparison.models:
        for row in model.metrics:
            if row.verdict != Verdict.OVER_LIMIT or row.head is None or row.limit is None:
                continue
            kind = metric_of(row.key).kind
            line = model.head.limit_lines.get(row.key) if model.head else None
            where = f"file={_property(budget_file)}" + (f",line={line}" if line else "")
            title = _property(f"flopguard: {model.name} {row.key} over its limit")
            message = f"{model.name}: {row.key} is {format_value(kind, row.head)}, over its limit {format_value(kind, row.limit)}"
            out.append(f"::error {where},title={title}::{_data(message)}")
    return out[:MAX_ANNOTATIONS]


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
