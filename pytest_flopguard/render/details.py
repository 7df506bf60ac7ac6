"""Under a failing model's error line: its own traceback frames and what it printed.

Both come from the user's repository (a fork's, in a pull request): callers
print them through `actions.neutralise`, so a printed `::error::` or
`::add-mask::` is plain text, never a workflow command.
"""

from __future__ import annotations

from pytest_flopguard.compare.diff import ModelDiff

MAX_LINES = 20  # of printed output per model in the terminal (the results file keeps more)


def error_details(model: ModelDiff) -> list[str]:
    """Indented lines: `traceback (your code):` and `output:` sections, when there are any."""
    err = model.error
    if err is None:
        return []
    lines: list[str] = []
    if err.traceback:
        lines += ["    traceback (your code, innermost last):", *(f"      {x}" for x in err.traceback.splitlines())]
    output = model.head.output.rstrip() if model.head is not None else ""
    if output:
        shown = output.splitlines()[-MAX_LINES:]
        lines += [f"    output (last {len(shown)} lines):", *(f"      | {x}" for x in shown)]
    return lines
